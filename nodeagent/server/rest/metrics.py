"""The server's Prometheus metrics: requests by verb, resource and code, latencies, watches.

Each app gets its own CollectorRegistry, so several servers can live in one process (tests,
all-in-one with an agent). Names follow kube-apiserver's apiserver_request_* family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


def _registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


@dataclass(slots=True)
class Metrics:
    registry: CollectorRegistry = field(default_factory=_registry)
    requests: Counter = field(init=False)
    latency: Histogram = field(init=False)
    watches: Gauge = field(init=False)

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

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))
