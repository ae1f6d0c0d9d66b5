"""The agent's few metrics in Prometheus' text format, without prometheus_client.

prometheus_client costs ~0.9 MiB resident (it imports its HTTP, WSGI and multiprocess code)
on every host, for six metrics. This is the subset the agent uses, with the same names and the
same exposition (text format 0.0.4: counters end in `_total`, histograms give cumulative
`_bucket{le=...}`, `_count` and `_sum`; no `_created` series). Not thread-safe: the agent
updates and reads its metrics on its event loop only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
LabelValues = tuple[str, ...]


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (Go's float format: 1.0, +Inf, NaN)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


class _Metric(Protocol):
    def lines(self) -> Iterator[str]: ...


@dataclass(slots=True)
class CollectorRegistry:
    """The metrics of one agent (several agents can share a process)."""

    metrics: list[_Metric] = field(default_factory=list)

    def register(self, metric: _Metric) -> None:
        self.metrics.append(metric)


@dataclass(slots=True)
class _Value:
    value: float = 0.0

    def set(self, value: float) -> None:
        self.value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _Family:
    kind = "untyped"
    suffix = ""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = tuple(labelnames)
        self.children: dict[LabelValues, _Value] = {} if labelnames else {(): _Value()}
        registry.register(self)

    def labels(self, *values: str, **by_name: str) -> _Value:
        key = tuple(str(v) for v in values) or tuple(str(by_name[n]) for n in self.labelnames)
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}")
        return self.children.setdefault(key, _Value())

    def set(self, value: float) -> None:
        self.children[()].set(value)

    def inc(self, amount: float = 1.0) -> None:
        self.children[()].inc(amount)

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name}{self.suffix} {self.documentation}"
        yield f"# TYPE {self.name}{self.suffix} {self.kind}"
        for key, child in self.children.items():
            labels = _labels(self.labelnames, key)
            yield f"{self.name}{self.suffix}{labels} {format_value(child.value)}"


class Gauge(_Family):
    kind = "gauge"


class Counter(_Family):
    kind = "counter"
    suffix = "_total"


class Histogram:
    """Observations counted into cumulative buckets (one series, no labels)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        *,
        registry: CollectorRegistry,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = (*sorted(buckets), math.inf)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self.sum += value
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.documentation}"
        yield f"# TYPE {self.name} histogram"
        total = 0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            total += count
            yield f'{self.name}_bucket{{le="{format_value(bound)}"}} {format_value(total)}'
        yield f"{self.name}_count {format_value(total)}"
        yield f"{self.name}_sum {format_value(self.sum)}"


def generate_latest(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in the text exposition format."""
    return "".join(line + "\n" for m in registry.metrics for line in m.lines()).encode()
