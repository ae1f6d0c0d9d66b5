"""Node lifecycle: a node whose Lease is not renewed goes Unknown; conditions become taints.

NodeLifecycleController is the thin loop that reads nodes and leases from watch-fed caches
every few seconds (the node cache shared with the DaemonSet controller, as
kube-controller-manager's listers) and writes the differences that the PURE decisions in
nodelifecycleplan.py return. When every zone is fully disrupted (no node Ready anywhere:
the control plane's own link is the likelier fault) the NoExecute taints come off every node,
as kube-controller-manager's handleDisruption does.
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
from nodeagent.server.controllers.nodelifecycleplan import (
    NodeUpdate,
    ZoneState,
    counts_for_disruption,
    desired_node_taints_and_conditions,
    last_heartbeat,
    plan_disruption,
    pods_marked_not_ready,
    ready_status,
    zone_key,
)
from nodeagent.server.controllers.workqueue import Informer, run_every, wait_synced
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()

LEASE_NAMESPACE = "kube-node-lease"


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
    _zones: dict[str, ZoneState] = field(default_factory=dict)  # the last pass's zone states

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
        updates: list[tuple[Obj, Obj | None, float, NodeUpdate]] = []
        ready_by_zone: dict[str, list[str]] = {}
        for node in nodes:
            lease = by_name.get(meta.name_of(node))
            seen = self._observed_at(node, lease, now)
            update = desired_node_taints_and_conditions(
                node, lease, now=now, grace=self.grace, observed_at=seen
            )
            updates.append((node, lease, seen, update))
            if counts_for_disruption(node):
                ready_by_zone.setdefault(zone_key(node), []).append(ready_status(node, update))
        disruption = plan_disruption(ready_by_zone, self._zones)
        self._zones = disruption.states
        if disruption.entering:
            log.warning("node_lifecycle_full_disruption", nodes=len(nodes))
        if disruption.exiting:
            log.info("node_lifecycle_full_disruption_over", nodes=len(nodes))
        for node, lease, seen, update in updates:
            if disruption.full:  # the same conditions; the NoExecute taints lifted
                update = desired_node_taints_and_conditions(
                    node, lease, now=now, grace=self.grace, observed_at=seen, full_disruption=True
                )
            if disruption.exiting:  # every node's grace runs again from now
                self._probes[meta.name_of(node)] = (last_heartbeat(node, lease), now)
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
