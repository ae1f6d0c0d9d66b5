"""PURE: is a node reachable, and is a daemon pod of the new revision failing?

The rollout's health gate (guard.py) asks these questions per node. A pod fails when it has
failed, a container waits for a reason that does not fix itself (CrashLoopBackOff, an image
that cannot be pulled, a config that cannot be built), a container restarted and the pod is
not ready (a crash, or a liveness probe), or it is still not ready `deadline` seconds after it
was created (readiness probes failing, a container that never starts).
"""

from __future__ import annotations

from typing import Any

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import parse_time

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
FAILING_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
MESSAGE_LIMIT = 160


def node_unreachable(node: Obj) -> bool:
    """The node stopped reporting: Ready is Unknown, or it carries the unreachable taint."""
    if meta.node_ready_status(node) == "Unknown":
        return True
    taints = (node.get("spec") or {}).get("taints") or []
    return any(isinstance(t, dict) and t.get("key") == UNREACHABLE_TAINT for t in taints)


def _statuses(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    found: list[Any] = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    return [s for s in found if isinstance(s, dict)]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def pod_problem(pod: Obj, *, now: float, deadline: int) -> str | None:
    """Why this (live) pod of the new revision counts as failing, or None while it may still
    become healthy."""
    if meta.pod_phase(pod) == "Failed":
        reason = str((pod.get("status") or {}).get("reason") or "Failed")
        return f"pod {meta.name_of(pod)} failed ({reason})"
    ready = meta.is_pod_ready(pod)
    for cs in _statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        if reason in FAILING_WAITING_REASONS:
            message = _short(str(waiting.get("message") or ""))
            detail = f": {message}" if message else ""
            return f"pod {meta.name_of(pod)} container {cs.get('name')} {reason}{detail}"
        restarts = cs.get("restartCount")
        if not ready and isinstance(restarts, int) and restarts > 0:
            return (
                f"pod {meta.name_of(pod)} container {cs.get('name')} restarted "
                f"{restarts} time{'s' if restarts != 1 else ''} and is not ready"
            )
    if not ready:
        created = _created(pod)
        if created is not None and created + deadline <= now:
            return f"pod {meta.name_of(pod)} not ready {deadline} s after it was created"
    return None


def ready_deadline_in(pod: Obj, *, now: float, deadline: int) -> float | None:
    """Seconds until a not-ready pod's readiness deadline passes (None when ready)."""
    if meta.is_pod_ready(pod):
        return None
    created = _created(pod)
    if created is None:
        return None
    return max(0.0, created + deadline - now)


def _created(pod: Obj) -> float | None:
    try:
        return parse_time(str((pod.get("metadata") or {}).get("creationTimestamp") or ""))
    except ValueError:
        return None
