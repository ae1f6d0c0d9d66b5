"""The file source's watcher: inotify sees a change long before the periodic rescan."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from nodeagent.agent.sources.file import run_file_source
from nodeagent.agent.sources.update import SourceUpdate

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {}}, "spec": {}}
POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: w}\n"
    "spec:\n  containers: [{name: c, image: localhost/busybox:1}]\n"
)


async def test_changes_arrive_by_inotify_not_rescan(tmp_path: Path) -> None:
    """An empty SET at start; a new file, an ignored .bak and a removal each seen at once
    (the rescan interval is an hour)."""
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = asyncio.create_task(
        run_file_source(directory=str(tmp_path), node=NODE, queue=queue, rescan_interval=3600)
    )
    try:
        first = await asyncio.wait_for(queue.get(), 5)
        assert first.pods == ()
        (tmp_path / "w.yaml").write_text(POD)
        added = await asyncio.wait_for(queue.get(), 5)
        assert [p["metadata"]["name"] for p in added.pods] == ["w-n1"]
        (tmp_path / "w.yaml.bak").write_text(POD.replace("{name: w}", "{name: b}"))
        (tmp_path / "w.yaml").unlink()
        removed = await asyncio.wait_for(queue.get(), 5)
        assert removed.pods == ()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
