"""The server runs the cyclic garbage collector with its own thresholds and reports pauses."""

from __future__ import annotations

import gc
from pathlib import Path

from nodeagent.server.main import GC_THRESHOLDS
from tests.support.server import running_server


async def test_thresholds_while_serving_and_restored_after(tmp_path: Path) -> None:
    """While the server runs the collector uses GC_THRESHOLDS and its pauses are on /metrics;
    when the server stops, the process's own thresholds come back."""
    before = gc.get_threshold()
    async with running_server(tmp_path / "data", run_controllers=False) as srv:
        assert gc.get_threshold() == GC_THRESHOLDS
        gc.collect()
        async with srv.session() as admin, admin.get(srv.url + "/metrics") as r:
            text = await r.text()
        assert 'nodeagent_gc_pause_seconds_count{generation="2"}' in text
    assert gc.get_threshold() == before
