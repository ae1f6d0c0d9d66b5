"""Node lifecycle: a node whose Lease is not renewed goes Unknown; conditions become taints.

The decision `desired_node_taints_and_conditions` is PURE (node, lease, now, grace -> what the
node's conditions and controller-managed taints should be); NodeLifecycleController is the
thin loop that reads nodes and leases from watch-fed caches every few seconds (the node cache
shared with the DaemonSet controller, as kube-controller-manager's listers) and writes the
differences.
Kubernetes' taint-based eviction of non-daemon pods is not done (docs/controllers.md).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import APIError, Conflict, NotFound
from nodeagent.api.timefmt import format_time, parse_time
from nodeagent.server.controllers.workqueue import Informer, run_every, wait_synced
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()

LEASE_NAMESPACE = "kube-node-lease"
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


@dataclass(slots=True, kw_only=True)
class NodeLifecycleController:
    """Every `period` seconds: read nodes and leases from the caches, decide, write.

    `nodes`: a node informer another controller runs (shared); without one, this controller
    runs its own. Listing every node and lease from the store each pass cost 7.8 % of the
    server's CPU with 1,000 nodes (docs/performance.md section 3).
    """

    registry: Registry
    grace: float = 40.0
    period: float = 5.0
    clock: Callable[[], float] = time.time
    nodes: Informer | None = None
    leases: Informer | None = field(default=None, init=False)
    _probes: dict[str, tuple[float, float]] = field(default_factory=dict)  # heartbeat, seen at

    async def run(self) -> None:
        own_nodes = self.nodes is None
        nodes = self.nodes = self.nodes or Informer(registry=self.registry, resource="nodes")
        leases = self.leases = Informer(registry=self.registry, resource="leases")
        async with asyncio.TaskGroup() as tg:
            if own_nodes:
                tg.create_task(nodes.run(), name="node-lifecycle-informer-nodes")
            tg.create_task(leases.run(), name="node-lifecycle-informer-leases")
            await wait_synced(nodes, leases)
            await run_every(self.period, self.pass_once, failed="node_lifecycle_pass_failed")

    def _observed_at(self, node: Obj, lease: Obj | None, now: float) -> float:
        beat = last_heartbeat(node, lease)
        previous = self._probes.get(meta.name_of(node))
        if previous is None or previous[0] != beat:
            seen = now  # first sight or a new heartbeat: the grace runs from now
        else:
            seen = previous[1]
        self._probes[meta.name_of(node)] = (beat, seen)
        return seen

    async def pass_once(self) -> None:
        if self.nodes is None or self.leases is None:
            raise RuntimeError("NodeLifecycleController.pass_once before run")
        nodes = self.nodes.list()
        leases = self.leases.list(LEASE_NAMESPACE)
        by_name = {meta.name_of(lease): lease for lease in leases}
        now = self.clock()
        for gone in set(self._probes) - {meta.name_of(n) for n in nodes}:
            del self._probes[gone]
        for node in nodes:
            lease = by_name.get(meta.name_of(node))
            update = desired_node_taints_and_conditions(
                node,
                lease,
                now=now,
                grace=self.grace,
                observed_at=self._observed_at(node, lease, now),
            )
            try:
                await self._write(node, update)
            except (Conflict, NotFound):
                continue  # the agent wrote meanwhile, or the node went: next pass
            except APIError:
                log.exception("node_lifecycle_write_failed", node=meta.name_of(node))

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        pods, _ = await self.registry.list("pods", field_selector=f"spec.nodeName={node_name}")
        for pod in pods_marked_not_ready(pods, now=self.clock()):
            try:
                await self.registry.update("pods", pod, subresource="status")
            except (Conflict, NotFound):
                continue  # changed or gone meanwhile; the agent's next report wins anyway
            log.info("pod_marked_not_ready", pod=meta.name_of(pod), node=node_name)

    async def _write(self, node: Obj, update: NodeUpdate) -> None:
        name = meta.name_of(node)
        if update.conditions is not None:
            new = copy.deepcopy(node)
            new.setdefault("status", {})["conditions"] = update.conditions
            node = await self.registry.update("nodes", new, subresource="status")
            log.info("node_status_unknown", node=name)
            await self._mark_pods_not_ready(name)
        if update.taints is not None:
            new = copy.deepcopy(node)
            new.setdefault("spec", {})["taints"] = update.taints
            await self.registry.update("nodes", new)
            log.info(
                "node_taints_updated",
                node=name,
                taints=[f"{t.get('key')}:{t.get('effect')}" for t in update.taints],
            )
