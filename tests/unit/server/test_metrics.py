"""The server's request metrics: one count and one latency per answered request, by label."""

from __future__ import annotations

import gc

from nodeagent.server.controllers.queuemetrics import MetricsProvider
from nodeagent.server.controllers.workqueue import WorkQueue
from nodeagent.server.requestlabels import request_labels
from nodeagent.server.rest.metrics import Metrics


def _value(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, lines
    return float(lines[0].split()[-1])


def test_requests_are_counted_by_kube_apiservers_labels() -> None:
    """Repeated requests add up under their own labels; the latency histogram counts each,
    with the same labels but the code (as kube-apiserver's)."""
    m = Metrics()
    patch = request_labels(
        method="PATCH",
        path="/api/v1/nodes/n1",
        watch=False,
        dry_run=[],
        content_type="application/merge-patch+json",
    )
    for _ in range(3):
        m.observe(patch, code=200, seconds=0.002)
    m.observe(patch, code=409, seconds=0.001)
    text = m.exposition().decode()
    labels = (
        'component="apiserver",dry_run="",group="",resource="nodes",scope="resource",'
        'subresource="",verb="PATCH",version="v1"'
    )
    assert _value(text, f'apiserver_request_total{{code="200",{labels}}}') == 3
    assert _value(text, f'apiserver_request_total{{code="409",{labels}}}') == 1
    assert _value(text, f"apiserver_request_duration_seconds_count{{{labels}}}") == 4


def test_garbage_collector_pauses_are_observed_while_timed() -> None:
    """A full collection while timing shows up under generation 2; after, nothing is added
    and the callback is gone."""
    m = Metrics()
    count = 'nodeagent_gc_pause_seconds_count{generation="2"}'
    callbacks = len(gc.callbacks)
    with m.timing_gc():
        gc.collect()
        assert len(gc.callbacks) == callbacks + 1
    assert _value(m.exposition().decode(), count) >= 1
    seen = _value(m.exposition().decode(), count)
    gc.collect()
    assert _value(m.exposition().decode(), count) == seen
    assert len(gc.callbacks) == callbacks


async def test_workqueue_metrics_have_client_gos_names_types_and_buckets() -> None:
    """A named queue's metrics show under client-go's names and types with the label `name`;
    the histograms have component-base's buckets, 1 µs to 1,000 s."""
    m = Metrics()
    provider: MetricsProvider = m.workqueues  # mypy holds it to the queue's protocol
    before = m.exposition().decode().splitlines()
    assert not [line for line in before if line.startswith("workqueue_")]  # no queue, no samples
    queue: WorkQueue[str] = WorkQueue(name="daemonset", metrics=provider)
    queue.add("a")
    queue.done(await queue.get())
    queue.add_after("a", 0)
    queue.update_unfinished_work()
    text = m.exposition().decode()
    types = {
        line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE")
    }
    # (prometheus_client adds a NAME_created gauge to each counter and histogram)
    ours = {k: v for k, v in types.items() if k.startswith("workqueue_")}
    assert {k: v for k, v in ours.items() if not k.endswith("_created")} == {
        "workqueue_depth": "gauge",
        "workqueue_adds_total": "counter",
        "workqueue_queue_duration_seconds": "histogram",
        "workqueue_work_duration_seconds": "histogram",
        "workqueue_unfinished_work_seconds": "gauge",
        "workqueue_longest_running_processor_seconds": "gauge",
        "workqueue_retries_total": "counter",
    }
    assert _value(text, 'workqueue_adds_total{name="daemonset"}') == 2
    assert _value(text, 'workqueue_depth{name="daemonset"}') == 1
    assert _value(text, 'workqueue_retries_total{name="daemonset"}') == 1
    assert _value(text, 'workqueue_work_duration_seconds_count{name="daemonset"}') == 1
    assert _value(text, 'workqueue_unfinished_work_seconds{name="daemonset"}') == 0
    buckets = [
        line.split('le="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("workqueue_queue_duration_seconds_bucket")
    ]
    assert buckets == [
        "1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1.0", "10.0", "100.0", "1000.0", "+Inf"
    ]  # fmt: skip
    assert "# HELP workqueue_depth Current depth of workqueue" in text
