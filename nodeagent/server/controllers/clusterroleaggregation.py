"""The clusterrole-aggregation controller: keeps each aggregated ClusterRole's rules equal to
the union that aggregationrules.py computes, whenever any ClusterRole changes.

One pass looks at every aggregated ClusterRole (there are few) and writes those whose rules
differ, with their resourceVersion (a failed write is retried at the next pass, after a pause
that doubles while writes keep failing: the informer has to see the newer object first, a
conflict answered without any I/O would otherwise spin the event loop, and a full disk would
fill the log); a write is itself a change, so chains (view into edit into admin) settle in a
few passes.
"""

from __future__ import annotations

import asyncio

import structlog

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import APIError
from nodeagent.api.meta import name_of
from nodeagent.server.controllers.aggregationrules import aggregated_rules
from nodeagent.server.controllers.workqueue import Informer
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()
RETRY_SECONDS = 1.0
CONFLICT_PAUSE_SECONDS = 0.1  # lets the informer take the newer object before the next pass
MAX_PAUSE_SECONDS = 30.0


class ClusterRoleAggregationController:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.roles = Informer(registry=registry, resource="clusterroles")
        self.roles.add_handler(self._changed)
        self._wake = asyncio.Event()
        self._failed_passes = 0  # passes in a row with a write that failed
        self.last_pass_failed = False

    def _changed(self, _old: Obj | None, _new: Obj | None) -> None:
        self._wake.set()

    async def sync_once(self) -> int:
        """Write every aggregated ClusterRole whose rules are stale; how many were written.
        A role that could not be written wakes the next pass."""
        everything = self.roles.list()
        written = 0
        self.last_pass_failed = False
        for role in everything:
            rules = aggregated_rules(role, everything)
            if rules is None or rules == (role.get("rules") or []):
                continue
            try:
                await self.registry.update("clusterroles", {**role, "rules": rules})
            except APIError as exc:  # a conflict or a deleted role: the next pass sees why
                # the first failure of a streak at info, its repeats at debug
                (log.debug if self._failed_passes else log.info)(
                    "clusterrole_aggregation_retry", role=name_of(role), error=str(exc)
                )
                self._wake.set()
                self.last_pass_failed = True
                continue
            written += 1
        return written

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.roles.run(), name="clusterrole-informer")
            await self.roles.synced.wait()
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    await self.sync_once()
                    if not self.last_pass_failed:
                        self._failed_passes = 0
                        continue
                    # a write failed: yield to the informer first, longer while it goes on
                    self._failed_passes += 1
                    pause = CONFLICT_PAUSE_SECONDS * 2 ** min(self._failed_passes - 1, 20)
                    await asyncio.sleep(min(pause, MAX_PAUSE_SECONDS))
                except Exception:
                    log.exception("clusterrole_aggregation_failed")
                    self._wake.set()
                    await asyncio.sleep(RETRY_SECONDS)
