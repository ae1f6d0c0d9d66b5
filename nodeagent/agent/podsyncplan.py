"""PURE: the writes that bring the server in line with the agent's pods (`plan_pod_sync`).

Pod statuses (merged with the server's copy), mirror pods for static pods, deletion confirms,
Killing events and warning events for rejected manifests, as action values; serversync.py's
PodSync performs them. No I/O and no clock: `now` is a parameter.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nodeagent.agent.sources.update import SourceName
from nodeagent.agent.statusmerge import merged_status, owned_status, pod_gates
from nodeagent.api.bodies import Obj
from nodeagent.api.meta import MIRROR_ANNOTATION, is_mirror_pod, metadata_of

CONFIG_HASH = "kubernetes.io/config.hash"


class PodRecordView(Protocol):
    """What the plan reads of a pod's record (state.PodRecord)."""

    @property
    def pod(self) -> Obj: ...
    @property
    def source(self) -> SourceName: ...
    @property
    def status(self) -> Obj: ...
    @property
    def container_ids(self) -> Mapping[str, str]: ...
    @property
    def handover(self) -> bool: ...


# ---- actions: what the pod side wants done on the server ----------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class PutStatus:
    namespace: str
    name: str
    uid: str
    status: Obj


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateMirror:
    uid: str  # the static pod's uid in AgentState.pods


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletePod:
    """DELETE with gracePeriodSeconds=0 and a uid precondition (mirror pods, confirms)."""

    namespace: str
    name: str
    uid: str
    why: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PostEvent:
    origin: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PostKilling:
    """kubelet's `Killing` event ("Stopping container NAME") per container of a pod being
    deleted, once, when the agent starts stopping it."""

    uid: str
    containers: tuple[str, ...]


PodAction = PutStatus | CreateMirror | DeletePod | PostEvent | PostKilling


@dataclass(slots=True, kw_only=True)
class Reported:
    """What the server has been told (so only changes are sent)."""

    statuses: dict[str, Obj] = field(default_factory=dict)  # server pod uid -> status sent
    rejections: dict[str, str] = field(default_factory=dict)  # origin -> error posted
    deleting: set[str] = field(default_factory=set)  # uids whose delete was sent
    killing: set[str] = field(default_factory=set)  # uids whose Killing events were posted
    # static pod uid -> config hash of a mirror pod the server refused (403): not asked again
    # until the pod's spec (its hash) changes; NodeRestriction refuses e.g. a mirror pod that
    # references a ConfigMap or Secret, and would refuse it on every sync
    mirror_refused: dict[str, str] = field(default_factory=dict)


def mirror_pod(record: PodRecordView, *, node_name: str, node_owner: Obj) -> Obj:
    """The server's copy of a static pod: same spec, the mirror annotation, owned by the Node."""
    pod = copy.deepcopy(record.pod)
    meta = pod.setdefault("metadata", {})
    for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
        meta.pop(key, None)
    annotations = meta.setdefault("annotations", {})
    annotations[MIRROR_ANNOTATION] = config_hash(record.pod)
    if node_owner.get("uid"):
        meta["ownerReferences"] = [{**node_owner, "controller": True}]
    pod["spec"] = {**(pod.get("spec") or {}), "nodeName": node_name}
    pod["status"] = record.status
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    return pod


def config_hash(pod: Obj) -> str:
    return str(
        (metadata_of(pod).get("annotations") or {}).get(CONFIG_HASH)
        or metadata_of(pod).get("uid", "")
    )


def status_differs(server: Obj, ours: Obj) -> bool:
    """PURE: the server's status disagrees with the agent's on what the agent owns: the phase,
    or the status of a condition the agent sets (conditions others add are not compared), as
    kubelet's isPodStatusByKubeletEqual. The node-lifecycle controller marking a pod NotReady
    while its node was unreachable is such a difference; the agent then sends its own again."""
    if ours.get("phase") is not None and server.get("phase") != ours.get("phase"):
        return True
    theirs = {c.get("type"): c.get("status") for c in server.get("conditions") or []}
    return any(theirs.get(c.get("type")) != c.get("status") for c in ours.get("conditions") or [])


def _status_to_send(
    reported: Reported, key: tuple[str, str], uid: str, server_pod: Obj, ours: Obj, now: float
) -> PutStatus | None:
    """The write of `ours` merged with the server's copy (its foreign conditions kept, the
    pod's readiness gates applied to Ready), when the agent's part changed since last sent or
    the server's copy differs; None otherwise (so no write loop)."""
    server = server_pod.get("status") or {}
    want = merged_status(server, ours, pod_gates(server_pod), now=now)
    if reported.statuses.get(uid) != owned_status(want) or status_differs(server, want):
        return PutStatus(namespace=key[0], name=key[1], uid=uid, status=want)
    return None


def plan_pod_sync(
    *,
    records: Mapping[str, PodRecordView],
    server_pods: Mapping[str, Obj],
    server_synced: bool,
    static_sources_synced: bool,
    static_wanted: frozenset[tuple[str, str]] = frozenset(),
    api_seen: bool,
    reported: Reported,
    rejected: Mapping[str, str],
    now: float,
) -> list[PodAction]:
    """PURE: the writes that bring the server in line with the agent's state (`now`: the
    lastTransitionTime of a Ready that a readiness gate turns).

    A pod kept running for its successor (`PodRecord.handover`, agent/handover.py) is
    confirmed deleted at once, so that its controller creates the successor.

    Assumptions: `server_pods` is the watch's view of the pods bound to this node (uid -> pod);
    static pods' records are named NAME-NODE already; `static_wanted` names the static pods
    the merged sources want, records or not. Invariants: a pod is deleted for a confirm only
    once its record is gone or has no containers; mirror pods are removed as orphans only after
    the static sources were all seen, and never while a static pod of that name is wanted (a
    restarting agent has no records before its first reconcile: it keeps its mirror pods).
    """
    actions: list[PodAction] = []
    by_name = {
        (metadata_of(p).get("namespace") or "default", metadata_of(p)["name"]): p
        for p in server_pods.values()
    }
    mirrors_wanted: set[tuple[str, str]] = set()
    for uid, record in records.items():
        key = (
            metadata_of(record.pod).get("namespace") or "default",
            metadata_of(record.pod)["name"],
        )
        if record.source == SourceName.API:
            server_pod = server_pods.get(uid)
            if server_pod is not None and uid not in reported.deleting:
                put = _status_to_send(reported, key, uid, server_pod, record.status, now)
                if put is not None:
                    actions.append(put)
            continue
        if not server_synced:
            continue
        mirrors_wanted.add(key)
        existing = by_name.get(key)
        if existing is None:
            if reported.mirror_refused.get(uid) != config_hash(record.pod):
                actions.append(CreateMirror(uid=uid))
            continue
        ex_uid = str(metadata_of(existing).get("uid", ""))
        stale = (
            not is_mirror_pod(existing)
            or (metadata_of(existing).get("annotations") or {}).get(MIRROR_ANNOTATION)
            != config_hash(record.pod)
            or bool(metadata_of(existing).get("deletionTimestamp"))
        )
        if stale and is_mirror_pod(existing):
            if ex_uid not in reported.deleting:
                actions.append(
                    DeletePod(namespace=key[0], name=key[1], uid=ex_uid, why="mirror pod outdated")
                )
        elif not stale:
            put = _status_to_send(reported, key, ex_uid, existing, record.status, now)
            if put is not None:
                actions.append(put)
    for uid, pod in server_pods.items():
        key = (metadata_of(pod).get("namespace") or "default", metadata_of(pod)["name"])
        if uid in reported.deleting:
            continue
        if is_mirror_pod(pod):
            if static_sources_synced and key not in mirrors_wanted | static_wanted:
                actions.append(
                    DeletePod(namespace=key[0], name=key[1], uid=uid, why="static pod gone")
                )
        elif api_seen and metadata_of(pod).get("deletionTimestamp"):
            found = records.get(uid)
            if found is None or not found.container_ids or found.handover:
                actions.append(
                    DeletePod(namespace=key[0], name=key[1], uid=uid, why="containers stopped")
                )
            elif uid not in reported.killing:
                actions.append(PostKilling(uid=uid, containers=tuple(sorted(found.container_ids))))
    for origin, error in sorted(rejected.items()):
        if reported.rejections.get(origin) != error:
            actions.append(PostEvent(origin=origin, error=error))
    return actions
