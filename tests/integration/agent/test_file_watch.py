"""The file source's watcher: inotify sees a change long before the periodic rescan."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from nodeagent.agent.sources.file import DirectorySource, run_file_source
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


async def test_reading_the_manifests_does_not_wake_the_source_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan opens and reads every file; those inotify events (opened, closed_no_write) must
    not start the next scan, or an idle agent rescans ten times a second."""
    scans = 0
    original = DirectorySource.scan

    def counting_scan(self: DirectorySource) -> SourceUpdate:
        nonlocal scans
        scans += 1
        return original(self)

    monkeypatch.setattr(DirectorySource, "scan", counting_scan)
    for i in range(3):
        (tmp_path / f"w{i}.yaml").write_text(POD.replace("{name: w}", f"{{name: w{i}}}"))
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = asyncio.create_task(
        run_file_source(
            directory=str(tmp_path), node=NODE, queue=queue, rescan_interval=3600, debounce=0.05
        )
    )
    try:
        first = await asyncio.wait_for(queue.get(), 5)
        assert len(first.pods) == 3
        # A real change is still seen at once, and is read once more to settle.
        (tmp_path / "w0.yaml").unlink()
        second = await asyncio.wait_for(queue.get(), 5)
        assert len(second.pods) == 2
        settled = scans
        # Many debounce periods with no change: no scan may follow (before the fix: ~20).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.get(), 1.0)
        assert scans - settled <= 1, f"{scans - settled} scans with nothing changed"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
