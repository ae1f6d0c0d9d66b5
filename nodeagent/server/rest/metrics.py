"""The server's Prometheus metrics: requests by verb, resource and code, latencies, watches.

Each app gets its own CollectorRegistry, so several servers can live in one process (tests,
all-in-one with an agent). Names follow kube-apiserver's apiserver_request_* family.
"""

from __future__ import annotations

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
