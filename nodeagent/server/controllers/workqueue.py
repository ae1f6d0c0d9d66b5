"""A keyed work queue (client-go style) and a small Informer that keeps a cache from the Registry.

WorkQueue: a key waiting is never queued twice; a key being processed is queued again only
after done(); add_after/add_rate_limited requeue with per-key exponential backoff. A queue with a
name and a MetricsProvider keeps client-go's workqueue metrics (queuemetrics.py), their
unfinished-work gauges refreshed by report_unfinished_work while its controller runs.
Informer: list, then watch from the list's resourceVersion; resumes from the last version
seen, relists on Gone; keeps a local cache keyed (namespace, name) and calls handlers.
run_every: a periodic controller's loop (wait.Until).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import APIError, Gone
from nodeagent.server.controllers.queuemetrics import MetricsProvider, QueueMetrics
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()

K = TypeVar("K", bound=Hashable)
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
UNFINISHED_WORK_PERIOD = 0.5  # client-go's defaultUnfinishedWorkUpdatePeriod


def object_key(obj: Obj) -> Key:
    meta: dict[str, Any] = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """Per-key exponential requeue delay: base * 2**failures, capped at max."""

    base: float = 0.005
    max: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.base * 2.0 ** min(failures, 40), self.max))


class WorkQueue(Generic[K]):
    """Keys to reconcile. Dedups waiting keys; a key is handed to one worker at a time.

    With a `name` and `metrics` (client-go's queue config Name and MetricsProvider) it keeps
    the workqueue metrics of that name, durations measured on `clock`; without either, none
    (as client-go's unnamed queues).
    """

    def __init__(
        self,
        *,
        rate_limit: RateLimit | None = None,
        name: str = "",
        metrics: MetricsProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._metrics: QueueMetrics[K] | None = (
            QueueMetrics(metrics, name=name, clock=clock) if metrics is not None and name else None
        )
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._rate_limit = rate_limit or RateLimit()

    def __len__(self) -> int:
        return len(self._dirty)

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        if self._metrics is not None:
            self._metrics.add(key)
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Queue key after delay seconds; an earlier pending timer for the key wins. Each call
        is a retry in the metrics (client-go's AddAfter)."""
        if self._metrics is not None:
            self._metrics.retry()
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= due:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, self._rate_limit.delay(failures))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    async def get(self) -> K:
        key = await self._queue.get()
        if self._metrics is not None:
            self._metrics.get(key)
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        if self._metrics is not None:
            self._metrics.done(key)
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.put_nowait(key)

    def update_unfinished_work(self) -> None:
        """Set the unfinished-work and longest-running-processor gauges from now's ages."""
        if self._metrics is not None:
            self._metrics.update_unfinished_work()

    def shutdown(self) -> None:
        """Drop pending delayed adds; the metrics' gauges go back to zero and the queue keeps
        no metrics from now on."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None


async def report_unfinished_work(
    queue: WorkQueue[Any], *, period: float = UNFINISHED_WORK_PERIOD
) -> None:
    """client-go's updateUnfinishedWorkLoop, for as long as the queue's controller runs: the
    unfinished-work gauges every `period` seconds. Cancelled (the controllers stop: this server
    lost the Lease, or is shutting down), it shuts the queue down, so its gauges read zero."""
    try:
        while True:
            queue.update_unfinished_work()
            await asyncio.sleep(period)
    finally:
        queue.shutdown()


Handler = Callable[[Obj | None, Obj | None], None]


@dataclass(slots=True, kw_only=True)
class Informer:
    """A cache of one resource kept by list+watch, calling handlers(old, new) on each change.

    For an add old is None; for a delete new is None. Handlers must not block.
    """

    registry: Registry
    resource: str
    relist_backoff: float = 1.0
    handlers: list[Handler] = field(default_factory=list)
    cache: dict[Key, Obj] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    resource_version: int = 0

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.cache.get((namespace, name))

    def list(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self.cache.values())
        return [o for (ns, _), o in self.cache.items() if ns == namespace]

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self.handlers:
            try:
                handler(old, new)
            except Exception:  # a broken handler must not stop the informer
                log.exception("informer_handler_failed", resource=self.resource)

    async def _relist(self) -> None:
        items, rv = await self.registry.list(self.resource)
        fresh = {object_key(o): o for o in items}
        old_cache = self.cache
        self.cache = fresh
        self.resource_version = rv
        for key, obj in old_cache.items():
            if key not in fresh:
                self._notify(obj, None)
        for key, obj in fresh.items():
            self._notify(old_cache.get(key), obj)
        self.synced.set()

    async def run(self) -> None:
        """List and watch until cancelled."""
        need_list = True
        seen = 1
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                seen = 0
                async for event in self.registry.watch(
                    self.resource, resource_version=self.resource_version
                ):
                    self._apply(event.type, event.object, event.resource_version)
                    seen += 1
                if not seen:
                    # a watch that ends at once (the store closing its watches, etcd gone and
                    # back) would be asked again in a loop that never yields the event loop
                    await asyncio.sleep(self.relist_backoff)
            except Gone:
                log.info("informer_relist", resource=self.resource, reason="gone")
                need_list = True
                if not seen:  # Gone at once again: a list served from memory never yields
                    await asyncio.sleep(self.relist_backoff)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("informer_watch_failed", resource=self.resource)
                need_list = True
                await asyncio.sleep(self.relist_backoff)

    def _apply(self, type_: str, obj: Obj, resource_version: int) -> None:
        key = object_key(obj)
        self.resource_version = max(self.resource_version, resource_version)
        old = self.cache.get(key)
        if type_ == "DELETED":
            if old is not None:
                del self.cache[key]
                self._notify(old, None)
            return
        self.cache[key] = obj
        self._notify(old, obj)


async def wait_synced(*informers: Informer, timeout: float | None = None) -> None:
    async with asyncio.timeout(timeout):
        for informer in informers:
            await informer.synced.wait()


async def run_every(
    period: float, pass_once: Callable[[], Awaitable[None]], *, failed: str
) -> None:
    """client-go's wait.Until: a pass, then `period` seconds, forever. A pass that raises is
    logged as `failed` (with its traceback) and the next one runs on time."""
    while True:
        try:
            await pass_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(failed)
        await asyncio.sleep(period)


async def process_forever(
    queue: WorkQueue[K], sync: Callable[[K], Awaitable[None]], *, retry: str
) -> None:
    """client-go's processNextWorkItem, forever: one key at a time; an API error (a conflict,
    a store outage) is logged as `retry` and the key requeued with its back-off; a success
    forgets the key's failures."""
    while True:
        key = await queue.get()
        try:
            await sync(key)
        except asyncio.CancelledError:
            raise
        except APIError as exc:
            log.info(retry, key=key, reason=exc.reason)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        finally:
            queue.done(key)
