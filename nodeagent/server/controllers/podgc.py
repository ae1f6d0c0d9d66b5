"""Pod garbage collection: pods bound to a node that no longer exists are force-deleted.

PodGCController is the thin loop around the PURE decision in podgcplan.py. As
kube-controller-manager's podgc, a node must be missing for the quarantine (40 s) and still
absent on a fresh read before its pods (mirror pods too) go; unscheduled pods that are
terminating are removed. Terminating pods on an Unknown or NotReady node are left Terminating,
as Kubernetes does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from nodeagent.api import meta
from nodeagent.api.errors import NotFound
from nodeagent.server.controllers.podgcplan import QUARANTINE_SECONDS, orphaned_pods
from nodeagent.server.controllers.workqueue import Informer, run_every, wait_synced
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()


@dataclass(slots=True, kw_only=True)
class PodGCController:
    """Every `period` seconds: read pods and nodes from the caches, decide, delete.

    `nodes`, `pods`: informers another controller runs (shared, as kube-controller-manager's
    podgc reads its listers); without them this controller runs its own. Listing every pod
    and node from the store each pass decoded every object every 5 s (docs/performance.md).
    """

    registry: Registry
    quarantine: float = QUARANTINE_SECONDS
    period: float = 5.0
    clock: Callable[[], float] = time.time
    nodes: Informer | None = None
    pods: Informer | None = None
    _missing_since: dict[str, float] = field(default_factory=dict)

    async def run(self) -> None:
        owned = [
            Informer(registry=self.registry, resource=resource)
            for resource, shared in (("nodes", self.nodes), ("pods", self.pods))
            if shared is None
        ]
        self.nodes = self.nodes or next(i for i in owned if i.resource == "nodes")
        self.pods = self.pods or next(i for i in owned if i.resource == "pods")
        async with asyncio.TaskGroup() as tg:
            for informer in owned:
                tg.create_task(informer.run(), name=f"pod-gc-informer-{informer.resource}")
            await wait_synced(self.nodes, self.pods)
            await run_every(self.period, self.pass_once, failed="pod_gc_pass_failed")

    async def pass_once(self) -> None:
        if self.nodes is None or self.pods is None:
            raise RuntimeError("PodGCController.pass_once before run")
        gc = orphaned_pods(
            self.pods.list(),
            {meta.name_of(n) for n in self.nodes.list()},
            missing_since=self._missing_since,
            now=self.clock(),
            quarantine=self.quarantine,
        )
        self._missing_since = dict(gc.missing_since)
        still_there: set[str] = set()
        for name in gc.check_nodes:
            with contextlib.suppress(NotFound):
                await self.registry.get("nodes", "", name)
                still_there.add(name)
        for pod in gc.delete:
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            if node in still_there:
                continue
            with contextlib.suppress(NotFound):
                await self.registry.delete(
                    "pods",
                    meta.namespace_of(pod),
                    meta.name_of(pod),
                    grace_period_seconds=0,
                    uid=meta.uid_of(pod),
                )
                log.info("pod_gc_deleted", pod=meta.name_of(pod), node=node)
