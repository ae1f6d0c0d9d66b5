"""PURE node lifecycle decisions: a node without a heartbeat for the grace goes Unknown, and
its conditions become taints.

`desired_node_taints_and_conditions` (node, lease, now, grace -> the node's conditions and
controller-managed taints), `plan_disruption` (each zone's Ready statuses and the previous
pass's zone states -> full disruption or not, as kube-controller-manager's handleDisruption)
and `pods_marked_not_ready` (kube-controller-manager's MarkPodsNotReady); nodelifecycle.py is
the loop that reads and writes.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping, Sequence
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
# markNodeAsReachable's two: lifted from every node while all zones are fully disrupted
EVICTING_TAINTS = frozenset(
    {("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/not-ready", "NoExecute")}
)
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


def _desired_taints(
    node: Obj, conditions: list[Obj], now: float, *, full_disruption: bool
) -> list[Obj]:
    existing = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    wanted: list[tuple[str, str]] = []
    for row in CONDITION_TAINTS:
        cond = meta.get_condition(conditions, row.type)
        if full_disruption and (row.key, row.effect) in EVICTING_TAINTS:
            continue
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
    node: Obj,
    lease: Obj | None,
    *,
    now: float,
    grace: float,
    observed_at: float | None = None,
    full_disruption: bool = False,
) -> NodeUpdate:
    """Mark the node Unknown when no heartbeat for `grace` seconds, and derive the taints.

    observed_at: when this controller last saw the heartbeat change (its own clock, so agent
    clock skew does not matter, as kube-controller-manager's probe timestamps); defaults to
    the heartbeat's own time. full_disruption (`plan_disruption`): the NoExecute
    unreachable and not-ready taints neither added nor kept.
    """
    seen = last_heartbeat(node, lease) if observed_at is None else observed_at
    stale = now - seen > grace
    conditions = list((node.get("status") or {}).get("conditions") or [])
    new_conditions = _unknown_conditions(node, now) if stale else conditions
    taints = _desired_taints(node, new_conditions, now, full_disruption=full_disruption)
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


# -- disruption: kube-controller-manager's zone states -----------------------------------------

ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"
UNHEALTHY_ZONE_THRESHOLD = 0.55  # --unhealthy-zone-threshold's default


class ZoneState(enum.StrEnum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


def zone_key(node: Obj) -> str:
    """GetZoneKey: region and zone from the topology labels (the beta ones as fallback); ""
    when a node has neither, so unlabelled nodes make one zone."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    zone = next((str(labels[k]) for k in ZONE_LABELS if k in labels), "")
    region = next((str(labels[k]) for k in REGION_LABELS if k in labels), "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def counts_for_disruption(node: Obj) -> bool:
    """isNodeExcludedFromDisruptionChecks, negated."""
    return EXCLUDE_DISRUPTION_LABEL not in ((node.get("metadata") or {}).get("labels") or {})


def zone_state(ready: Sequence[str]) -> ZoneState:
    """ComputeZoneState over a zone's Ready statuses ("" for none): no node Ready is full
    disruption; more than two not Ready and at least 55 % of the zone is partial."""
    not_ready = sum(1 for status in ready if status != "True")
    if not_ready and not_ready == len(ready):
        return ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / len(ready) >= UNHEALTHY_ZONE_THRESHOLD:
        return ZoneState.PARTIAL_DISRUPTION
    return ZoneState.NORMAL


@dataclass(frozen=True, slots=True, kw_only=True)
class Disruption:
    """One pass's verdict. states: to pass back next time. full: every zone fully disrupted
    (the NoExecute unreachable/not-ready taints come off every node and none is added).
    entering/exiting: full disruption began or ended with this pass; on exiting every node's
    grace runs again from now (the probe timestamps reset)."""

    states: dict[str, ZoneState]
    full: bool
    entering: bool
    exiting: bool


def plan_disruption(
    ready_by_zone: Mapping[str, Sequence[str]], previous: Mapping[str, ZoneState]
) -> Disruption:
    """handleDisruption: each zone's state from its nodes' Ready statuses (after this pass's
    Unknown marking); full when every zone is fully disrupted. A zone not seen before counts
    as Initial (not fully disrupted) for the previous pass; zones with no nodes are dropped.
    Partial disruption is computed but changes nothing here (docs/controllers.md)."""
    states = {zone: zone_state(ready) for zone, ready in ready_by_zone.items()}
    all_are = bool(states) and all(s is ZoneState.FULL_DISRUPTION for s in states.values())
    all_were = bool(states) and all(
        previous.get(zone, ZoneState.INITIAL) is ZoneState.FULL_DISRUPTION for zone in states
    )
    return Disruption(
        states=states,
        full=all_are,
        entering=all_are and not all_were,
        exiting=all_were and not all_are,
    )


def ready_status(node: Obj, update: NodeUpdate) -> str:
    """The node's Ready status once `update` is written ("" when it has none)."""
    conditions = update.conditions
    if conditions is None:
        conditions = list((node.get("status") or {}).get("conditions") or [])
    ready = meta.get_condition(conditions, "Ready")
    return "" if ready is None else str(ready.get("status") or "")
