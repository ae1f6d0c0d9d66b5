"""The server's request metrics: one count and one latency per answered request, by label."""

from __future__ import annotations

import gc

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
