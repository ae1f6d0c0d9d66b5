"""PURE pull before replace: which deleting pods keep running until their replacement's images
are on the host, and which new pods wait for the pod they replace.

A pod replaces another (its predecessor) when it is desired, not deleting, in the same
namespace, and has the predecessor's name (a static pod whose manifest changed) or the same
controller owner (a DaemonSet's rollout, or a daemon pod someone deleted). The DaemonSet
controller creates the new pod only once the old one is deleted on the server (maxSurge 0), so
a deleting DaemonSet pod is held for a short while with no successor yet
(`HANDOVER_WAIT_SECONDS` from the delete request): the agent confirms its deletion at once
(serversync.py) so that the successor is created, and stops it when the successor's images are
present, or when the wait ends with no successor (a deleted DaemonSet, a node that no longer
matches). A successor whose pull fails backs off as a failed start does (ErrImagePull,
ImagePullBackOff) while its predecessor keeps running. Invariants: a successor never starts
while its predecessor has a container; a held predecessor is never stopped for its successor
before `pulled` says the successor's images are present for the successor's spec hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.api.meta import controller_ref
from nodeagent.api.timefmt import parse_time
from nodeagent.runtime.protocol import ContainerInfo, ContainerState

HANDOVER_WAIT_SECONDS = 5.0  # a deleted daemon pod waits this long for its successor
DAEMON_OWNER_KINDS = frozenset({"DaemonSet"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Handover:
    """held: predecessor uid -> (successor uid or None, when to stop waiting for one);
    successors: successor uid -> its predecessor's uid (the successor must not start yet);
    to_pull: the successors whose images are not known present."""

    held: Mapping[str, tuple[str | None, float | None]] = field(default_factory=dict)
    successors: Mapping[str, str] = field(default_factory=dict)
    to_pull: tuple[DesiredPod, ...] = ()


def _namespace(d: DesiredPod) -> str:
    return str(d.pod["metadata"].get("namespace") or "default")


def _owner_uid(d: DesiredPod) -> str:
    ref = controller_ref(d.pod) or {}
    return str(ref.get("uid") or "")


def successor_of(pred: DesiredPod, desired: Mapping[str, DesiredPod]) -> DesiredPod | None:
    """The desired pod that replaces `pred` (same namespace; same name or controller owner)."""
    name, owner = pred.pod["metadata"].get("name"), _owner_uid(pred)
    for d in desired.values():
        if d.deleting or d.uid == pred.uid or _namespace(d) != _namespace(pred):
            continue
        if d.pod["metadata"].get("name") == name or (owner and _owner_uid(d) == owner):
            return d
    return None


def _waits_for_a_successor(pred: DesiredPod, now: float) -> float | None:
    """Until when a deleting daemon pod with no successor yet keeps running, or None."""
    ref = controller_ref(pred.pod) or {}
    meta = pred.pod["metadata"]
    if ref.get("kind") not in DAEMON_OWNER_KINDS or not meta.get("deletionTimestamp"):
        return None
    try:
        requested = parse_time(str(meta["deletionTimestamp"])) - int(
            meta.get("deletionGracePeriodSeconds") or 0
        )
    except ValueError:
        return None
    until = requested + HANDOVER_WAIT_SECONDS
    return until if now < until else None


def plan_handover(
    *,
    desired: Mapping[str, DesiredPod],
    by_pod: Mapping[str, Sequence[ContainerInfo]],
    pulled: Mapping[str, str],
    now: float,
) -> Handover:
    """The handovers under way, from the deleting pods that still have a running container."""
    held: dict[str, tuple[str | None, float | None]] = {}
    successors: dict[str, str] = {}
    to_pull: dict[str, DesiredPod] = {}
    for uid, containers in by_pod.items():
        pred = desired.get(uid)
        if pred is None or not pred.deleting:
            continue
        running = any(c.state is ContainerState.RUNNING and not c.is_sandbox for c in containers)
        succ = successor_of(pred, desired)
        if succ is not None:
            successors[succ.uid] = uid  # never starts beside its predecessor's containers
            if running and pulled.get(succ.uid) != succ.spec_hash:
                held[uid] = (succ.uid, None)
                to_pull[succ.uid] = succ
            continue
        until = _waits_for_a_successor(pred, now) if running else None
        if until is not None:
            held[uid] = (None, until)
    return Handover(held=held, successors=successors, to_pull=tuple(to_pull.values()))
