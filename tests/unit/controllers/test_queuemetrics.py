"""A named WorkQueue's metrics bookkeeping (client-go's workqueue metrics) on a fake clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nodeagent.server.controllers.queuemetrics import MetricsProvider
from nodeagent.server.controllers.workqueue import RateLimit, WorkQueue, report_unfinished_work
from tests.support.wait import wait_for


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeMetric:
    """Any of the metric kinds: a value (gauges, counters) and the observations (histograms)."""

    value: float = 0.0
    observed: list[float] = field(default_factory=list)

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value

    def observe(self, amount: float) -> None:
        self.observed.append(amount)


@dataclass
class FakeProvider:
    """Hands out one FakeMetric per (metric, queue name), as labelled children are."""

    made: dict[tuple[str, str], FakeMetric] = field(default_factory=dict)

    def _metric(self, kind: str, name: str) -> FakeMetric:
        return self.made.setdefault((kind, name), FakeMetric())

    def new_depth_metric(self, name: str) -> FakeMetric:
        return self._metric("depth", name)

    def new_adds_metric(self, name: str) -> FakeMetric:
        return self._metric("adds", name)

    def new_latency_metric(self, name: str) -> FakeMetric:
        return self._metric("queue_duration", name)

    def new_work_duration_metric(self, name: str) -> FakeMetric:
        return self._metric("work_duration", name)

    def new_unfinished_work_seconds_metric(self, name: str) -> FakeMetric:
        return self._metric("unfinished", name)

    def new_longest_running_processor_seconds_metric(self, name: str) -> FakeMetric:
        return self._metric("longest", name)

    def new_retries_metric(self, name: str) -> FakeMetric:
        return self._metric("retries", name)

    def __getitem__(self, kind: str) -> FakeMetric:
        return self.made[kind, "q"]


def _queue(clock: FakeClock | None = None) -> tuple[WorkQueue[str], FakeProvider]:
    provider = FakeProvider()
    checked: MetricsProvider = provider  # mypy holds the fake to the protocol
    queue: WorkQueue[str] = WorkQueue(
        name="q",
        metrics=checked,
        clock=clock or FakeClock(),
        rate_limit=RateLimit(base=60.0, max=60.0),  # requeues stay pending in these tests
    )
    return queue, provider


async def test_adds_and_depth_count_keys_not_already_waiting() -> None:
    """An add of a waiting key is not counted; one of a key being processed is, and the depth
    counts it until a worker takes it again (client-go's dirty set)."""
    queue, m = _queue()
    for key in ("a", "a", "b"):
        queue.add(key)
    assert (m["adds"].value, m["depth"].value) == (2, 2)
    key = await queue.get()
    assert m["depth"].value == 1
    queue.add(key)  # changed again while processing
    assert (m["adds"].value, m["depth"].value) == (3, 2)
    queue.done(key)
    assert m["depth"].value == 2
    await queue.get()
    await queue.get()
    assert m["depth"].value == 0


async def test_queue_and_work_durations_come_from_the_clock() -> None:
    """Queue duration runs from the first add of a waiting key to its get (a repeated add does
    not restart it); work duration from get to done."""
    clock = FakeClock()
    queue, m = _queue(clock)
    queue.add("a")
    clock.now += 2.0
    queue.add("a")  # deduplicated: the key has waited since the first add
    clock.now += 1.0
    key = await queue.get()
    clock.now += 0.25
    queue.done(key)
    assert m["queue_duration"].observed == [3.0]
    assert m["work_duration"].observed == [0.25]


async def test_every_delayed_or_rate_limited_requeue_is_a_retry() -> None:
    """add_rate_limited and add_after each count one retry (client-go's AddAfter), also when an
    earlier timer for the key already stands; a plain add is none."""
    queue, m = _queue()
    queue.add("a")
    key = await queue.get()
    queue.add_rate_limited(key)
    queue.add_rate_limited(key)
    queue.add_after(key, 120.0)
    queue.done(key)
    assert (m["retries"].value, m["adds"].value, m["depth"].value) == (3, 1, 0)
    queue.shutdown()


async def test_unfinished_work_and_longest_running_processor_while_keys_are_processed() -> None:
    """The gauges hold the sum and the largest of the ages of the keys in workers' hands as
    of the last update, and drop to zero once they are done."""
    clock = FakeClock()
    queue, m = _queue(clock)
    queue.add("a")
    queue.add("b")
    a = await queue.get()
    clock.now += 1.0
    b = await queue.get()
    clock.now += 3.0
    queue.update_unfinished_work()
    assert (m["unfinished"].value, m["longest"].value) == (7.0, 4.0)
    queue.done(a)
    queue.done(b)
    queue.update_unfinished_work()
    assert (m["unfinished"].value, m["longest"].value) == (0.0, 0.0)


async def test_shutdown_zeroes_the_gauges_for_the_next_queue_of_that_name() -> None:
    """A queue shut down (its controller stopped: the Lease lost) gives its depth back and
    zeroes the unfinished-work gauges; the next queue of the same name (re-elected) starts at
    zero depth, while the counters keep their totals."""
    clock = FakeClock()
    queue, m = _queue(clock)
    for key in ("a", "b", "c"):
        queue.add(key)
    await queue.get()
    clock.now += 5.0
    queue.update_unfinished_work()
    queue.shutdown()
    assert (m["depth"].value, m["unfinished"].value, m["longest"].value) == (0, 0, 0)
    queue.add("d")  # a late event after the shutdown is not counted
    again: WorkQueue[str] = WorkQueue(name="q", metrics=m, clock=clock)
    again.add("a")
    assert (m["depth"].value, m["adds"].value) == (1, 4)


async def test_a_queue_without_a_name_keeps_no_metrics() -> None:
    """As client-go's: an unnamed queue asks the provider for nothing."""
    provider = FakeProvider()
    queue: WorkQueue[str] = WorkQueue(metrics=provider)
    queue.add("a")
    queue.done(await queue.get())
    assert provider.made == {}


async def test_report_unfinished_work_refreshes_until_cancelled_then_zeroes() -> None:
    """The loop sets the gauges while the controller runs; cancelled, the queue shuts down."""
    clock = FakeClock()
    queue, m = _queue(clock)
    queue.add("a")
    await queue.get()
    clock.now += 2.0
    loop = asyncio.create_task(report_unfinished_work(queue, period=0.01))

    async def refreshed() -> bool:
        return m["longest"].value == 2.0

    await wait_for(refreshed, timeout=5, message="the gauge refreshed")
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert (m["longest"].value, m["depth"].value) == (0.0, 0)
