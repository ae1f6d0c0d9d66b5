"""PURE: a work queue's metrics bookkeeping, as client-go's (util/workqueue/metrics.go).

The queue tells QueueMetrics what happens to its keys (add, get, done, retry); durations are
differences of the clock it is given, so tests run them on a fake one. The metric objects come
from a MetricsProvider, one of each per queue name: client-go's MetricsProvider shape. The
server's is rest/metrics.py's WorkqueueMetrics (workqueue_depth{name}, workqueue_adds_total,
...); prometheus_client's labelled children satisfy these protocols as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)


class GaugeMetric(Protocol):
    def inc(self, amount: float = 1) -> None: ...

    def dec(self, amount: float = 1) -> None: ...


class SettableGaugeMetric(Protocol):
    def set(self, value: float) -> None: ...


class CounterMetric(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class HistogramMetric(Protocol):
    def observe(self, amount: float) -> None: ...


class MetricsProvider(Protocol):
    """Makes one queue's metrics, given the queue's name (client-go's MetricsProvider)."""

    def new_depth_metric(self, name: str) -> GaugeMetric: ...

    def new_adds_metric(self, name: str) -> CounterMetric: ...

    def new_latency_metric(self, name: str) -> HistogramMetric: ...

    def new_work_duration_metric(self, name: str) -> HistogramMetric: ...

    def new_unfinished_work_seconds_metric(self, name: str) -> SettableGaugeMetric: ...

    def new_longest_running_processor_seconds_metric(self, name: str) -> SettableGaugeMetric: ...

    def new_retries_metric(self, name: str) -> CounterMetric: ...


class QueueMetrics(Generic[K]):
    """client-go's defaultQueueMetrics (and its retry metric) for the queue named `name`.

    depth: keys waiting (a key added while it is being processed counts until it is taken
    again); adds: every add of a key not already waiting; queue duration: from the first add
    of a waiting key to the get that takes it; work duration: from get to done; retries: every
    add_after (a rate-limited requeue is one); unfinished work and longest-running processor:
    the sum and the largest of the ages of the keys being processed, as of the last
    update_unfinished_work().
    """

    def __init__(self, provider: MetricsProvider, *, name: str, clock: Callable[[], float]) -> None:
        self.name = name
        self._clock = clock
        self._depth = provider.new_depth_metric(name)
        self._adds = provider.new_adds_metric(name)
        self._latency = provider.new_latency_metric(name)
        self._work_duration = provider.new_work_duration_metric(name)
        self._unfinished = provider.new_unfinished_work_seconds_metric(name)
        self._longest = provider.new_longest_running_processor_seconds_metric(name)
        self._retries = provider.new_retries_metric(name)
        self._waiting = 0  # what this queue added to the depth gauge, given back by stop()
        self._add_times: dict[K, float] = {}
        self._processing_start_times: dict[K, float] = {}

    def add(self, key: K) -> None:
        self._adds.inc()
        self._depth.inc()
        self._waiting += 1
        self._add_times.setdefault(key, self._clock())

    def get(self, key: K) -> None:
        now = self._clock()
        self._depth.dec()
        self._waiting -= 1
        self._processing_start_times[key] = now
        added = self._add_times.pop(key, None)
        if added is not None:
            self._latency.observe(now - added)

    def done(self, key: K) -> None:
        started = self._processing_start_times.pop(key, None)
        if started is not None:
            self._work_duration.observe(self._clock() - started)

    def retry(self) -> None:
        self._retries.inc()

    def update_unfinished_work(self) -> None:
        now = self._clock()
        ages = [now - started for started in self._processing_start_times.values()]
        self._unfinished.set(sum(ages))
        self._longest.set(max(ages, default=0.0))

    def stop(self) -> None:
        """The queue is gone (its controller stopped): its gauges go back to zero; counters and
        histograms keep their totals. A later queue of the same name starts from zero depth."""
        self._depth.dec(self._waiting)
        self._waiting = 0
        self._add_times.clear()
        self._processing_start_times.clear()
        self._unfinished.set(0.0)
        self._longest.set(0.0)
