"""The server's request metrics: one count and one latency per answered request, by label."""

from __future__ import annotations

import gc

from nodeagent.server.rest.metrics import Metrics


def _value(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, lines
    return float(lines[0].split()[-1])


def test_requests_are_counted_by_verb_resource_and_code() -> None:
    """Repeated requests add up under their own labels; the latency histogram counts each."""
    m = Metrics()
    for _ in range(3):
        m.observe(verb="patch", resource="nodes", code=200, seconds=0.002)
    m.observe(verb="patch", resource="nodes", code=409, seconds=0.001)
    text = m.exposition().decode()
    total = "apiserver_request_total{"
    assert _value(text, total + 'code="200",resource="nodes",verb="patch"}') == 3
    assert _value(text, total + 'code="409",resource="nodes",verb="patch"}') == 1
    count = 'apiserver_request_duration_seconds_count{resource="nodes",verb="patch"}'
    assert _value(text, count) == 4


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
