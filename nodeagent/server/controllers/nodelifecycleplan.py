"""PURE node lifecycle decisions: a node without a heartbeat for the grace goes Unknown, and
its conditions become taints.

`desired_node_taints_and_conditions` (node, lease, now, grace -> the node's conditions and
controller-managed taints) and `pods_marked_not_ready` (kube-controller-manager's
MarkPodsNotReady); nodelifecycle.py is the loop that reads and writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time, parse_time

HEALTH_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NEVER_REASON = "NodeStatusNeverUpdated"
NEVER_MESSAGE = "Kubelet never posted node status."


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionTaint:
    """While condition `type` has `status`, the node carries taint key:effect."""

    type: str
    status: str
    key: str
    effect: str


_TAINT_TABLE = (  # condition, status -> node.kubernetes.io/<taint>:<effect>
    ("Ready", "False", "not-ready", "NoSchedule"),
    ("Ready", "False", "not-ready", "NoExecute"),
    ("Ready", "Unknown", "unreachable", "NoSchedule"),
    ("Ready", "Unknown", "unreachable", "NoExecute"),
    ("MemoryPressure", "True", "memory-pressure", "NoSchedule"),
    ("DiskPressure", "True", "disk-pressure", "NoSchedule"),
    ("PIDPressure", "True", "pid-pressure", "NoSchedule"),
    ("NetworkUnavailable", "True", "network-unavailable", "NoSchedule"),
)
CONDITION_TAINTS: tuple[ConditionTaint, ...] = tuple(
    ConditionTaint(type=t, status=s, key=f"node.kubernetes.io/{k}", effect=e)
    for t, s, k, e in _TAINT_TABLE
)
UNSCHEDULABLE_TAINT = ("node.kubernetes.io/unschedulable", "NoSchedule")
MANAGED_TAINTS = frozenset({(r.key, r.effect) for r in CONDITION_TAINTS} | {UNSCHEDULABLE_TAINT})


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeUpdate:
    """What to write: new status.conditions and spec.taints, each None when unchanged."""

    conditions: list[Obj] | None = None
    taints: list[Obj] | None = None
    stale: bool = False


def last_heartbeat(node: Obj, lease: Obj | None) -> float:
    """The newest sign of life: lease renewTime, Ready's lastHeartbeatTime, else creation."""
    stamps: list[str] = []
    if lease is not None:
        stamps.append(str((lease.get("spec") or {}).get("renewTime") or ""))
    ready = meta.get_condition(node.get("status") or {}, "Ready")
    if ready is not None:
        stamps.append(str(ready.get("lastHeartbeatTime") or ""))
    stamps.append(str((node.get("metadata") or {}).get("creationTimestamp") or ""))
    times: list[float] = []
    for stamp in stamps:
        try:
            times.append(parse_time(stamp))
        except ValueError:
            continue
    return max(times, default=0.0)


def _unknown_conditions(node: Obj, now: float) -> list[Obj]:
    conditions = copy.deepcopy(list((node.get("status") or {}).get("conditions") or []))
    stamp = format_time(now)
    created = str((node.get("metadata") or {}).get("creationTimestamp") or stamp)
    for type_ in HEALTH_CONDITIONS:
        current = meta.get_condition(conditions, type_)
        if current is None:
            new = {
                "type": type_,
                "status": "Unknown",
                "reason": NEVER_REASON,
                "message": NEVER_MESSAGE,
                "lastHeartbeatTime": created,
                "lastTransitionTime": stamp,
            }
        elif current.get("status") != "Unknown":
            new = dict(current)
            new.update(status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE)
            new["lastTransitionTime"] = stamp
        else:
            continue
        conditions = meta.set_condition(conditions, new, stamp)
    return conditions


def _desired_taints(node: Obj, conditions: list[Obj], now: float) -> list[Obj]:
    existing = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    wanted: list[tuple[str, str]] = []
    for row in CONDITION_TAINTS:
        cond = meta.get_condition(conditions, row.type)
        if cond is not None and cond.get("status") == row.status:
            wanted.append((row.key, row.effect))
    if (node.get("spec") or {}).get("unschedulable") is True:
        wanted.append(UNSCHEDULABLE_TAINT)
    kept = [
        t
        for t in existing
        if (t.get("key"), t.get("effect")) not in MANAGED_TAINTS
        or (t.get("key"), t.get("effect")) in wanted
    ]
    present = {(t.get("key"), t.get("effect")) for t in kept}
    for key, effect in wanted:
        if (key, effect) in present:
            continue
        taint: Obj = {"key": key, "effect": effect}
        if effect == "NoExecute":
            taint["timeAdded"] = format_time(now)
        kept.append(taint)
    return kept


def desired_node_taints_and_conditions(
    node: Obj, lease: Obj | None, *, now: float, grace: float, observed_at: float | None = None
) -> NodeUpdate:
    """Mark the node Unknown when no heartbeat for `grace` seconds, and derive the taints.

    observed_at: when this controller last saw the heartbeat change (its own clock, so agent
    clock skew does not matter, as kube-controller-manager's probe timestamps); defaults to
    the heartbeat's own time.
    """
    seen = last_heartbeat(node, lease) if observed_at is None else observed_at
    stale = now - seen > grace
    conditions = list((node.get("status") or {}).get("conditions") or [])
    new_conditions = _unknown_conditions(node, now) if stale else conditions
    taints = _desired_taints(node, new_conditions, now)
    old_taints = list((node.get("spec") or {}).get("taints") or [])
    return NodeUpdate(
        conditions=new_conditions if new_conditions != conditions else None,
        taints=taints if taints != old_taints else None,
        stale=stale,
    )


def pods_marked_not_ready(pods: list[Obj], *, now: float) -> list[Obj]:
    """MarkPodsNotReady: the pods (copies) whose Ready condition must turn False because
    their node stopped reporting; pods already not Ready are left out."""
    out: list[Obj] = []
    stamp = format_time(now)
    for pod in pods:
        ready = meta.get_condition(pod.get("status") or {}, "Ready")
        if ready is None or ready.get("status") != "True":
            continue
        new = copy.deepcopy(pod)
        conditions = new["status"]["conditions"]
        new["status"]["conditions"] = meta.set_condition(
            conditions, {**ready, "status": "False", "lastTransitionTime": stamp}, stamp
        )
        out.append(new)
    return out
