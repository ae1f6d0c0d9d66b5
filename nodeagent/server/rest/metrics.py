"""The server's Prometheus metrics: requests by verb, resource and code, latencies, watches,
and the pauses of Python's cyclic garbage collector (each one holds every request).

Each app gets its own CollectorRegistry, so several servers can live in one process (tests,
all-in-one with an agent). Names follow kube-apiserver's apiserver_request_* family.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


def _registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


@dataclass(slots=True)
class Metrics:
    registry: CollectorRegistry = field(default_factory=_registry)
    requests: Counter = field(init=False)
    latency: Histogram = field(init=False)
    watches: Gauge = field(init=False)
    gc_pauses: Histogram = field(init=False)
    # the labelled children already made: labels() costs a lock and a tuple build per call
    _counters: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    _latencies: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "apiserver_request_total",
            "Requests by verb, resource and HTTP code.",
            ("verb", "resource", "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "apiserver_request_duration_seconds",
            "Request latency by verb and resource (watches: until the stream ends).",
            ("verb", "resource"),
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

    def observe(self, *, verb: str, resource: str, code: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (verb, resource, str(code))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.requests.labels(*key)
        counter.inc()
        histogram = self._latencies.get(key[:2])
        if histogram is None:
            histogram = self._latencies[key[:2]] = self.latency.labels(verb, resource)
        histogram.observe(seconds)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))
