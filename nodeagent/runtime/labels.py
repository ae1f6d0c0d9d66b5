"""PURE ownership labels and engine names: what marks a container as ours, and how to read it back.

Every container the agent creates carries `io.nodeagent.*` labels naming its pod, container,
spec hash and source, so a restarted agent adopts its containers instead of recreating them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from nodeagent.api.bodies import Obj
from nodeagent.runtime.protocol import ContainerInfo, ContainerState, PodContext

PREFIX = "io.nodeagent."
NAMESPACE = PREFIX + "pod.namespace"
POD_NAME = PREFIX + "pod.name"
POD_UID = PREFIX + "pod.uid"
CONTAINER_NAME = PREFIX + "container.name"
SPEC_HASH = PREFIX + "spec-hash"
SOURCE = PREFIX + "source"
ATTEMPT = PREFIX + "attempt"
INIT = PREFIX + "init"
SANDBOX = PREFIX + "sandbox"
NODE = PREFIX + "node"
GRACE = PREFIX + "termination-grace-period"

SANDBOX_CONTAINER_NAME = "POD"  # kubelet's name for the pause container in engine names
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def pod_labels(pod: Obj, ctx: PodContext) -> dict[str, str]:
    """The labels shared by a pod's sandbox and containers."""
    meta = pod.get("metadata") or {}
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    return {
        NAMESPACE: str(meta.get("namespace") or "default"),
        POD_NAME: str(meta.get("name") or ""),
        POD_UID: str(meta.get("uid") or ""),
        SPEC_HASH: ctx.spec_hash,
        SOURCE: ctx.source,
        NODE: ctx.node_name,
        GRACE: str(grace),
    }


def container_labels(
    pod: Obj, ctx: PodContext, *, container_name: str, attempt: int, is_init: bool
) -> dict[str, str]:
    """The labels of one container of `pod` (container_name "" for the sandbox)."""
    return {
        **pod_labels(pod, ctx),
        CONTAINER_NAME: container_name,
        ATTEMPT: str(attempt),
        INIT: str(is_init).lower(),
        SANDBOX: str(container_name == "").lower(),
    }


def engine_name(pod: Obj, *, container_name: str, attempt: int) -> str:
    """kubelet-style readable name: k8s_<container>_<pod>_<namespace>_<uid8>_<attempt>."""
    meta = pod.get("metadata") or {}
    parts = (
        "k8s",
        container_name or SANDBOX_CONTAINER_NAME,
        str(meta.get("name") or ""),
        str(meta.get("namespace") or "default"),
        str(meta.get("uid") or "")[:8],
        str(attempt),
    )
    return _UNSAFE.sub("-", "_".join(parts))


def is_ours(labels: Mapping[str, str] | None, node_name: str | None = None) -> bool:
    """True for containers labelled by an agent (by this node's agent when node_name is given)."""
    if not labels or POD_UID not in labels:
        return False
    return node_name is None or labels.get(NODE) == node_name


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


def info_from_labels(
    *,
    container_id: str,
    engine_name: str,
    labels: Mapping[str, str],
    image: str,
    image_id: str,
    state: ContainerState,
    exit_code: int | None = None,
    started_at: float | None = None,
    finished_at: float | None = None,
    oom_killed: bool = False,
    pod_ip: str = "",
) -> ContainerInfo:
    """A ContainerInfo from an engine's view of a container and its decoded labels."""
    return ContainerInfo(
        id=container_id,
        engine_name=engine_name,
        pod_namespace=labels.get(NAMESPACE, ""),
        pod_name=labels.get(POD_NAME, ""),
        pod_uid=labels.get(POD_UID, ""),
        container_name=labels.get(CONTAINER_NAME, ""),
        is_sandbox=labels.get(SANDBOX) == "true",
        is_init=labels.get(INIT) == "true",
        source=labels.get(SOURCE, ""),
        spec_hash=labels.get(SPEC_HASH, ""),
        attempt=_int(labels.get(ATTEMPT)),
        image=image,
        image_id=image_id,
        state=state,
        exit_code=exit_code,
        started_at=started_at,
        finished_at=finished_at,
        oom_killed=oom_killed,
        pod_ip=pod_ip,
        labels=dict(labels),
    )


def grace_period(labels: Mapping[str, str], default: int = 30) -> int:
    """The pod's terminationGracePeriodSeconds recorded on a container (for adopted ones)."""
    return _int(labels.get(GRACE), default)
