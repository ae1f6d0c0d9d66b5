"""Run the controllers only while this server holds the controller-manager Lease.

The thin loop around controllers/leaderelection.py (the decisions): try to acquire every
retry period (jittered); once leader, start `lead()` and renew every retry period; a leader
that cannot renew within the renew deadline cancels `lead()` and goes back to acquiring (as
kube-controller-manager's --leader-elect, except that it does not exit). Every lease write is
a CAS through the Registry, so two servers never both win. A clean stop releases the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import AlreadyExists, APIError, Conflict, NotFound
from nodeagent.server.controllers.leaderelection import (
    JITTER,
    LEASE_NAME,
    LEASE_NAMESPACE,
    Observed,
    Timings,
    claimed,
    holder,
    observe,
    released,
    should_acquire,
    still_leading,
)
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()

Lead = Callable[[], Coroutine[Any, Any, None]]


def identity() -> str:
    """hostname_uuid, as kube-controller-manager names its holders."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    def __init__(
        self,
        registry: Registry,
        *,
        me: str,
        timings: Timings,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self.me = me
        self._timings = timings
        self._clock = clock
        self._wall = wall
        self._observed: Observed | None = None
        self._lease: Obj | None = None  # as last read or written
        self.leading = False

    async def run(self, lead: Lead) -> None:
        """Acquire, lead, renew; on a lost lease stop leading and start again. Forever."""
        try:
            while True:
                await self._acquire()
                await self._lead(lead)
        finally:  # a clean stop: free the lease if we hold it (a stale one is a Conflict)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._release()), 2.0)

    async def _acquire(self) -> None:
        while not await self._try():
            await asyncio.sleep(self._timings.retry_period * random.uniform(1.0, JITTER))

    async def _lead(self, lead: Lead) -> None:
        self.leading = True
        log.info("leader_elected", lease=f"{LEASE_NAMESPACE}/{LEASE_NAME}", identity=self.me)
        task = asyncio.create_task(lead(), name="leading")
        last = self._clock()
        try:
            while not task.done():
                await asyncio.wait([task], timeout=self._timings.retry_period)
                if task.done():
                    break
                left = last + self._timings.renew_deadline - self._clock()
                try:
                    renewed = await asyncio.wait_for(self._try(), max(0.01, left))
                except TimeoutError:
                    renewed = False
                if renewed:
                    last = self._clock()
                elif not still_leading(last_renewed=last, now=self._clock(), timings=self._timings):
                    log.warning("leader_lost", identity=self.me, holder=holder(self._lease))
                    return
        finally:
            self.leading = False
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # an error of lead() itself propagates: the server stops

    async def _try(self) -> bool:
        """client-go's tryAcquireOrRenew: read, decide, CAS-write. False on any failure."""
        try:
            lease: Obj | None = await self._registry.get("leases", LEASE_NAMESPACE, LEASE_NAME)
        except NotFound:
            lease = None
        except (APIError, OSError) as exc:
            log.warning("leader_lease_read_failed", error=str(exc))
            return False
        now = self._clock()
        self._observed = observe(self._observed, lease, now)
        self._lease = lease
        if not should_acquire(lease, observed=self._observed, now=now, me=self.me):
            return False
        new = claimed(lease, me=self.me, wall=self._wall(), timings=self._timings)
        try:
            if lease is None:
                stored = await self._registry.create("leases", new, namespace=LEASE_NAMESPACE)
            else:
                stored = await self._registry.update("leases", new)
        except (Conflict, AlreadyExists):
            return False  # another server wrote first
        except (APIError, OSError) as exc:
            log.warning("leader_lease_write_failed", error=str(exc))
            return False
        self._lease = stored
        self._observed = observe(None, stored, self._clock())
        return True

    async def _release(self) -> None:
        if self._lease is None or holder(self._lease) != self.me:
            return
        await self._registry.update("leases", released(self._lease, wall=self._wall()))
        log.info("leader_released", identity=self.me)
