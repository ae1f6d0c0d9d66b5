"""The reconcile loop: merged sources -> plan -> executor, then pod statuses into AgentState.

Runs on every source change, runtime event, finished action and probe result change; when a
timer falls due (a back-off ends, a probe's period passes: the loop sleeps until the earliest);
and every `interval` seconds as a full resync (kubelet: pod workers resync, events drive the
rest). A pod no source wants any more stays known (terminating) until its containers are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from nodeagent.agent.actions import KeepRunning
from nodeagent.agent.aio import raise_if_cancelling
from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.agent.executor import Executor
from nodeagent.agent.plan import latest_attempts, next_recheck, plan
from nodeagent.agent.podconfig import PodConfig, pod_key
from nodeagent.agent.podstatus import pod_status, runtime_down_status
from nodeagent.agent.probers import Prober
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.state import AgentState, PodRecord
from nodeagent.api.hashing import spec_hash
from nodeagent.runtime.protocol import ContainerInfo, Runtime, RuntimeError_

log = structlog.get_logger()
# While the engine is down, try again this often (the resync may be much longer).
RUNTIME_RETRY_SECONDS = 1.0
# A timer never sleeps less than this: a due time that planning again does not clear (a clock
# step, a rounding) cannot spin the loop.
MIN_SLEEP_SECONDS = 0.05
STATIC = (SourceName.FILE, SourceName.HTTP)  # the sources whose pods get mirror pods


@dataclass(slots=True, kw_only=True)
class Reconciler:
    runtime: Runtime
    state: AgentState
    executor: Executor
    prober: Prober
    host_ip: str
    observe_duration: Callable[[float], None] = lambda seconds: None
    clock: Callable[[], float] = time.time  # wall clock: statuses carry timestamps
    podconfig: PodConfig = field(default_factory=PodConfig)
    known: dict[str, DesiredPod] = field(default_factory=dict)  # desired + terminating, by uid
    observed: list[ContainerInfo] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    recheck_at: float | None = None  # the last plan's earliest timer (clock time)
    on_change: Callable[[], None] = lambda: None  # a pod status or the runtime error changed
    on_update: Callable[[SourceUpdate], None] = lambda _update: None  # each source's set
    _wanted: dict[str, DesiredPod] = field(default_factory=dict)  # by uid, for the same pod dict
    held: frozenset[str] = frozenset()  # deleting pods kept running for their successor

    def _changed(self) -> None:
        self.state.changed.set()
        self.on_change()

    def apply(self, update: SourceUpdate) -> None:
        """Take one source's complete set (from the merge task)."""
        self.podconfig.apply(update)
        self.on_update(update)
        self.state.sources_seen.add(update.source)
        self.state.static_wanted = frozenset(
            pod_key(m.pod) for m in self.podconfig.desired().values() if m.source in STATIC
        )
        self.state.rejected = {r.origin: r for r in self.podconfig.rejected()}
        self.on_change()  # the rejected manifests are part of the summary
        self.wake.set()

    def _desired(self) -> dict[str, DesiredPod]:
        merged = self.podconfig.desired()
        desired: dict[str, DesiredPod] = {}
        for uid, m in merged.items():
            d = self._wanted.get(uid)
            if d is None or d.pod is not m.pod or d.source != m.source.value:
                # a new object from its source (they are never changed in place): hash once
                spec = m.pod.get("spec")
                d = DesiredPod(pod=m.pod, spec_hash=spec_hash(spec), source=m.source.value)
            desired[uid] = d
        self._wanted = dict(desired)
        for uid, old in self.known.items():
            if uid not in desired:
                desired[uid] = DesiredPod(
                    pod=old.pod, spec_hash=old.spec_hash, source=old.source, terminating=True
                )
        return desired

    async def reconcile_once(self) -> None:
        started = time.monotonic()
        listed_at = self.executor.mark()
        try:
            observed = await self.runtime.list_containers()
        except RuntimeError_ as e:
            raise_if_cancelling()
            message = f"container runtime is down: {e}"
            if self.state.runtime_error != message:
                log.warning("runtime_unavailable", error=str(e))
                self.state.runtime_error = message
                self._changed()
            self._mark_not_ready(message)
            return
        if self.state.runtime_error is not None:
            log.info("runtime_available")
            self.state.runtime_error = None
            self._changed()
        self.observed = observed
        now = self.clock()
        desired = self._desired()
        actions = plan(
            desired=desired,
            observed=observed,
            restarts=self.executor.restarts,
            probes=self.prober.results,
            now=now,
            failures=self.executor.failures,
            unseen_sources=frozenset(
                s.value for s in self.state.sources_expected - self.state.sources_seen
            ),
            pulled=self.executor.pulled,
        )
        self.held = frozenset(a.pod_uid for a in actions if isinstance(a, KeepRunning))
        self.recheck_at = next_recheck(actions)
        self.executor.submit(actions, desired=desired, observed=observed, listed_at=listed_at)
        self._forget_gone(desired, observed)
        self._update_statuses(observed, now)
        self.observe_duration(time.monotonic() - started)

    def _mark_not_ready(self, message: str) -> None:
        """The engine is down: every pod's Ready turns False (podstatus.runtime_down_status);
        the next pass with the engine back computes them afresh."""
        now = self.clock()
        for record in self.state.pods.values():
            status = runtime_down_status(record.status, message=message, now=now)
            if status != record.status:
                record.status = status
                self._changed()

    def _forget_gone(
        self, desired: dict[str, DesiredPod], observed: Sequence[ContainerInfo]
    ) -> None:
        present = {c.pod_uid for c in observed}
        self.known = {
            uid: d
            for uid, d in desired.items()
            if not d.terminating or uid in present or self.executor.busy(uid)
        }
        for uid in [u for u in self.state.pods if u not in self.known]:
            del self.state.pods[uid]
            self._changed()

    def _update_statuses(self, observed: Sequence[ContainerInfo], now: float) -> None:
        by_pod: dict[str, list[ContainerInfo]] = defaultdict(list)
        for c in observed:  # grouped once: a scan per pod was pods x containers every tick
            by_pod[c.pod_uid].append(c)
        for uid, d in self.known.items():
            containers = by_pod.get(uid, [])
            record = self.state.pods.get(uid)
            status = pod_status(
                pod=d.pod,
                containers=containers,
                results=self.prober.results,
                waiting=self.executor.waiting.get(uid, {}),
                previous=record.status if record else None,
                host_ip=self.host_ip,
                now=now,
            )
            ids = {
                name: c.id
                for init in (True, False)
                for name, c in latest_attempts(containers, init=init).items()
            }
            handover = uid in self.held
            if record is None:
                self.state.pods[uid] = PodRecord(
                    pod=d.pod,
                    source=SourceName(d.source),
                    status=status,
                    container_ids=ids,
                    handover=handover,
                )
                self._changed()
            elif (
                record.status != status
                or record.container_ids != ids
                or record.pod != d.pod
                or record.handover != handover
            ):
                record.pod, record.status, record.container_ids = d.pod, status, ids
                record.handover = handover
                self._changed()

    async def run(self, *, interval: float) -> None:
        """Reconcile now, then on every wake-up, when the plan's earliest timer falls due, and
        `interval` seconds after the last pass at the latest (the resync). A probe falling due
        only starts that probe: the engine is not listed again for it."""
        loop = asyncio.get_running_loop()  # its monotonic clock paces the loop; self.clock
        while True:  # (wall time) only dates the plan's and the probes' timers
            self.wake.clear()
            await self.reconcile_once()
            down = self.state.runtime_error is not None
            resync = min(interval, RUNTIME_RETRY_SECONDS) if down else interval
            plan_at = loop.time() + min(resync, _delay(self.recheck_at, self.clock()))
            while True:
                now = self.clock()
                probe_at = self.prober.tick(pods=self.known, observed=self.observed, now=now)
                until = min(plan_at, loop.time() + _delay(probe_at, now))
                woken = await self._sleep(max(until - loop.time(), MIN_SLEEP_SECONDS))
                if woken or loop.time() >= plan_at:
                    break

    async def _sleep(self, seconds: float) -> bool:
        """Wait for a wake-up at most `seconds`; True if woken."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
        # arrives as `wake` is set, and the agent then never stops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.wake.wait()
                return True
        return False


def _delay(at: float | None, now: float) -> float:
    """Seconds from `now` to a timer `at` (infinite when there is none)."""
    return float("inf") if at is None else at - now


async def merge_updates(queue: asyncio.Queue[SourceUpdate], reconciler: Reconciler) -> None:
    """The fan-in: every source's SET goes through here (and nowhere else)."""
    while True:
        update = await queue.get()
        log.debug("source_update", source=update.source.value, pods=len(update.pods))
        reconciler.apply(update)


async def follow_runtime_events(runtime: Runtime, wake: asyncio.Event) -> None:
    """A container's death wakes the loop at once; the stream is reopened when it breaks."""
    while True:
        try:
            async for _event in runtime.events():
                wake.set()
        except Exception as e:  # the stream breaking must not stop the agent: reopen it
            raise_if_cancelling()
            log.debug("runtime_events_interrupted", error=str(e))
        await asyncio.sleep(1.0)
        wake.set()  # what happened while the stream was closed is seen by a full pass
