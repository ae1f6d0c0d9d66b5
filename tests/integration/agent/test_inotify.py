"""The directory watch (inotify on the event loop): what wakes the file source, and what not."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from nodeagent.agent.sources.inotify import DirectoryWatch
from tests.support.wait import wait_for


async def _watching(tmp_path: Path) -> tuple[DirectoryWatch, list[int]]:
    calls: list[int] = []
    return DirectoryWatch(tmp_path, lambda: calls.append(1), asyncio.get_running_loop()), calls


async def _settle() -> None:
    """Let the loop read whatever the kernel queued by now (a no-op for an empty queue)."""
    for _ in range(5):
        await asyncio.sleep(0.01)


def _more_than(calls: list[int], n: int) -> bool:
    return len(calls) > n


def _editor_save(path: Path, text: str) -> None:
    """Write a temporary file and rename it over `path`, as editors save."""
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def test_every_kind_of_change_is_reported(tmp_path: Path) -> None:
    """Create, write, an editor's rename over the file, and delete each call on_change."""
    manifest = tmp_path / "a.yaml"
    steps: list[Callable[[], object]] = [
        lambda: manifest.write_text("x"),
        lambda: manifest.write_text("y"),
        lambda: _editor_save(manifest, "z"),
        manifest.unlink,
    ]
    watch, calls = await _watching(tmp_path)
    try:
        for step in steps:
            await _settle()
            before = len(calls)
            step()
            await wait_for(partial(_more_than, calls, before), timeout=5, message="a change seen")
    finally:
        watch.stop()


async def test_reading_is_not_a_change_and_a_removed_directory_ends_the_watch(
    tmp_path: Path,
) -> None:
    """Opening and reading a manifest (every scan does) reports nothing; removing the
    directory reports a change and marks the watch gone."""
    (tmp_path / "a.yaml").write_text("x")
    watch, calls = await _watching(tmp_path)
    try:
        for _ in range(3):
            assert (tmp_path / "a.yaml").read_text() == "x"
            assert sorted(os.listdir(tmp_path)) == ["a.yaml"]
        await _settle()
        assert calls == []
        (tmp_path / "a.yaml").unlink()
        tmp_path.rmdir()
        await wait_for(lambda: watch.gone, timeout=5, message="the watch ends with its directory")
    finally:
        watch.stop()
