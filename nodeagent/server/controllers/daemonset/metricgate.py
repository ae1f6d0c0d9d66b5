"""PURE: the metric gate's reading of a Prometheus instant query, and whether it breaks the bound.

The controller asks Prometheus (`GET /api/v1/query`, prometheus.py) and hands the JSON answer to
`reading_of`; guard.py asks `breach` whether the rollout must halt. A query that fails, or an
answer that is not a vector or a scalar, is an error: the rollout holds, it does not halt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nodeagent.api.bodies import Obj

MAX_SAMPLES_SHOWN = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricReading:
    """One answer to the DaemonSet's metric query (or why there is none)."""

    samples: tuple[Sample, ...] = ()
    error: str | None = None


def _value(pair: Any) -> float | None:
    if not isinstance(pair, list) or len(pair) != 2:
        return None
    try:
        return float(pair[1])
    except (TypeError, ValueError):
        return None


def reading_of(body: Obj) -> MetricReading:
    """The samples of a `/api/v1/query` answer (vector or scalar)."""
    if body.get("status") != "success":
        return MetricReading(error=f"query failed: {body.get('errorType')}: {body.get('error')}")
    data = body.get("data") or {}
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        value = _value(result)
        if value is None:
            return MetricReading(error="a scalar answer without a value")
        return MetricReading(samples=(Sample(labels={}, value=value),))
    if kind != "vector" or not isinstance(result, list):
        return MetricReading(error=f"the query must return a vector or a scalar, not {kind}")
    samples: list[Sample] = []
    for item in result:
        if not isinstance(item, dict):
            continue
        value = _value(item.get("value"))
        if value is None:
            continue
        metric = item.get("metric") or {}
        labels = {str(k): str(v) for k, v in metric.items()} if isinstance(metric, dict) else {}
        samples.append(Sample(labels=labels, value=value))
    return MetricReading(samples=tuple(samples))


def _shown(sample: Sample) -> str:
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
    return f"{{{labels}}} {sample.value:g}" if labels else f"{sample.value:g}"


def breach(reading: MetricReading, *, query: str, bound: float) -> str | None:
    """Why the reading breaks the bound (a sample above it, or NaN), or None when it holds.
    An empty answer holds: a query written as a condition (`x > 3`) returns nothing when fine."""
    bad = [s for s in reading.samples if math.isnan(s.value) or s.value > bound]
    if not bad:
        return None
    shown = ", ".join(_shown(s) for s in bad[:MAX_SAMPLES_SHOWN])
    return f"metric gate: {query} = {shown}, above the bound {bound:g}"
