"""The server's Prometheus metrics: requests and their latencies with kube-apiserver's names
and labels, open watches, and the pauses of Python's cyclic garbage collector (each one holds
every request).

Each app gets its own CollectorRegistry, so several servers can live in one process (tests,
all-in-one with an agent). apiserver_request_total has kube-apiserver's labels verb, dry_run,
group, version, resource, subresource, scope, component and code;
apiserver_request_duration_seconds the same without code (as kube-apiserver's); what each
label holds is nodeagent.server.requestlabels'.

WorkqueueMetrics: client-go's workqueue metrics (names, help, buckets and the label `name` of
component-base's metrics/prometheus/workqueue), made for the controllers' named queues; a
server whose controllers do not run (a standby, --run-controllers false) shows none.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from nodeagent.server.requestlabels import RequestLabels

LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component")


def _registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


@dataclass(slots=True)
class Metrics:
    registry: CollectorRegistry = field(default_factory=_registry)
    requests: Counter = field(init=False)
    latency: Histogram = field(init=False)
    watches: Gauge = field(init=False)
    gc_pauses: Histogram = field(init=False)
    workqueues: WorkqueueMetrics = field(init=False)
    # the labelled children already made: labels() costs a lock and a tuple build per call
    _counters: dict[tuple[RequestLabels, int], Any] = field(default_factory=dict)
    _latencies: dict[RequestLabels, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "apiserver_request_total",
            "Requests by verb, dry run, group, version, resource, subresource, scope, component "
            "and HTTP code.",
            (*LABELS, "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "apiserver_request_duration_seconds",
            "Request latency by verb, dry run, group, version, resource, subresource, scope and "
            "component (watches and exec sessions: until they end).",
            LABELS,
            registry=self.registry,
        )
        self.watches = Gauge(
            "apiserver_registered_watchers",
            "Open watch streams by resource.",
            ("resource",),
            registry=self.registry,
        )
        self.gc_pauses = Histogram(
            "nodeagent_gc_pause_seconds",
            "Pauses of the cyclic garbage collector by generation (the event loop stops).",
            ("generation",),
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.workqueues = WorkqueueMetrics(self.registry)

    @contextmanager
    def timing_gc(self) -> Iterator[None]:
        """While open, every collection's pause is observed by generation (gc.callbacks is
        process-wide: the server opens this once for its lifetime)."""
        started: list[float] = []

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[:] = [time.perf_counter()]
            elif started:
                seconds = time.perf_counter() - started.pop()
                self.gc_pauses.labels(str(info["generation"])).observe(seconds)

        gc.callbacks.append(callback)
        try:
            yield
        finally:
            gc.callbacks.remove(callback)

    def observe(self, labels: RequestLabels, *, code: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        counter = self._counters.get((labels, code))
        if counter is None:
            values = _values(labels)
            counter = self._counters[labels, code] = self.requests.labels(*values, str(code))
        counter.inc()
        histogram = self._latencies.get(labels)
        if histogram is None:
            histogram = self._latencies[labels] = self.latency.labels(*_values(labels))
        histogram.observe(seconds)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


def _values(labels: RequestLabels) -> tuple[str, ...]:
    return (
        labels.verb,
        labels.dry_run,
        labels.group,
        labels.version,
        labels.resource,
        labels.subresource,
        labels.scope,
        labels.component,
    )


# component-base's ExponentialBuckets(10e-7, 10, 10): 1 µs to 1,000 s
WORKQUEUE_BUCKETS = (1e-6, 1e-5, 1e-4, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


class WorkqueueMetrics:
    """client-go's workqueue metrics in one registry; a queuemetrics.MetricsProvider."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", ("name",), registry=registry
        )
        self.adds = Counter(
            "workqueue_adds_total",
            "Total number of adds handled by workqueue",
            ("name",),
            registry=registry,
        )
        self.latency = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            ("name",),
            buckets=WORKQUEUE_BUCKETS,
            registry=registry,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            ("name",),
            buckets=WORKQUEUE_BUCKETS,
            registry=registry,
        )
        self.unfinished = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads. One can deduce the number of "
            "stuck threads by observing the rate at which this increases.",
            ("name",),
            registry=registry,
        )
        self.longest = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            ("name",),
            registry=registry,
        )
        self.retries = Counter(
            "workqueue_retries_total",
            "Total number of retries handled by workqueue",
            ("name",),
            registry=registry,
        )

    def new_depth_metric(self, name: str) -> Gauge:
        return self.depth.labels(name)

    def new_adds_metric(self, name: str) -> Counter:
        return self.adds.labels(name)

    def new_latency_metric(self, name: str) -> Histogram:
        return self.latency.labels(name)

    def new_work_duration_metric(self, name: str) -> Histogram:
        return self.work_duration.labels(name)

    def new_unfinished_work_seconds_metric(self, name: str) -> Gauge:
        return self.unfinished.labels(name)

    def new_longest_running_processor_seconds_metric(self, name: str) -> Gauge:
        return self.longest.labels(name)

    def new_retries_metric(self, name: str) -> Counter:
        return self.retries.labels(name)
