"""The agent's metrics module writes what prometheus_client would write for the same metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import prometheus_client
import pytest

from nodeagent.agent import metrics


def _exercise(lib: Any, registry: Any) -> None:
    """The agent's six metrics, used as the agent uses them."""
    pods = lib.Gauge("nodeagent_pods", "Pods on this node by phase", ["phase"], registry=registry)
    restarts = lib.Gauge("nodeagent_container_restarts", "Sum of restarts", registry=registry)
    up = lib.Gauge("nodeagent_runtime_up", "1 when the engine answers", registry=registry)
    reconcile = lib.Histogram(
        "nodeagent_reconcile_duration_seconds", "Time of one reconcile pass", registry=registry
    )
    failures = lib.Counter("nodeagent_probe_failures", 'Failed "probes"', registry=registry)
    for phase, n in (("Running", 3), ("Pending", 0), ('we"ird\\', 1)):
        pods.labels(phase=phase).set(n)
    restarts.set(7)
    up.set(1)
    for seconds in (0.001, 0.005, 0.3, 12.0, 0.02):
        reconcile.observe(seconds)
    failures.inc()
    failures.inc()


@pytest.fixture
def no_created_series() -> Iterator[None]:
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # ours has none
    yield
    prometheus_client.enable_created_metrics()  # type: ignore[no-untyped-call]


@pytest.mark.usefixtures("no_created_series")
def test_exposition_matches_prometheus_client() -> None:
    """Same HELP/TYPE lines, labels, `_total`, buckets, count and sum."""
    ours, theirs = metrics.CollectorRegistry(), prometheus_client.CollectorRegistry()
    _exercise(metrics, ours)
    _exercise(prometheus_client, theirs)
    assert metrics.generate_latest(ours).decode().splitlines() == (
        prometheus_client.generate_latest(theirs).decode().splitlines()
    )
