"""The manifest directory's watch (watchdog): drop, edit and remove seen with inotify and with
polling; what wakes the source and what not; polling when inotify's limits are reached."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from nodeagent.agent.sources.dirwatch import DirectoryWatch
from nodeagent.agent.sources.file import run_file_source
from nodeagent.agent.sources.update import SourceUpdate
from tests.support.wait import wait_for

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {}}, "spec": {}}
POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: w}\n"
    "spec:\n  containers: [{name: c, image: localhost/busybox:1}]\n"
)


def _editor_save(path: Path, text: str) -> None:
    """Write a hidden temporary file and rename it over `path`, as editors save."""
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.asynccontextmanager
async def _source(directory: Path, *, polling: bool) -> AsyncIterator[asyncio.Queue[SourceUpdate]]:
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = asyncio.create_task(
        run_file_source(
            directory=str(directory),
            node=NODE,
            queue=queue,
            rescan_interval=3600,  # every change below is seen by the watch, none by a rescan
            force_polling=polling,
        )
    )
    try:
        yield queue
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _images(update: SourceUpdate) -> list[str]:
    return [c["image"] for p in update.pods for c in p["spec"]["containers"]]


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
async def test_drop_edit_remove(tmp_path: Path, polling: bool) -> None:
    """A dropped manifest, an editor's save over it and its removal each reach the merged
    config as a full snapshot, with either observer (polling forced by the setting)."""
    with capture_logs() as logs:
        async with _source(tmp_path, polling=polling) as queue:
            assert (await asyncio.wait_for(queue.get(), 10)).pods == ()
            manifest = tmp_path / "w.yaml"
            manifest.write_text(POD)
            assert _images(await asyncio.wait_for(queue.get(), 10)) == ["localhost/busybox:1"]
            _editor_save(manifest, POD.replace("busybox:1", "busybox:2"))
            assert _images(await asyncio.wait_for(queue.get(), 10)) == ["localhost/busybox:2"]
            manifest.unlink()
            assert (await asyncio.wait_for(queue.get(), 10)).pods == ()
    said = [e for e in logs if e["event"] == "manifest_watch_polling"]
    if polling:
        assert [(e["log_level"], e["reason"]) for e in said] == [
            ("info", "the setting asks for polling")
        ]
    else:
        assert said == []


async def test_reads_wake_nothing_and_in_place_writes_are_told_apart(tmp_path: Path) -> None:
    """Reading the manifests (every scan does) and files the source never reads wake nothing;
    a file still open for writing is `writing` until closed; a rename into the directory
    is complete at once (no wait for more writes)."""
    manifest = tmp_path / "a.yaml"
    manifest.write_text("x")
    calls: list[int] = []
    watch = DirectoryWatch(tmp_path, lambda: calls.append(1), asyncio.get_running_loop())
    try:
        assert watch.polling is None
        for _ in range(3):
            assert manifest.read_text() == "x"
        (tmp_path / ".a.yaml.swp").write_text("editor state")
        (tmp_path / "notes.txt").write_text("not a manifest")
        await asyncio.sleep(0.2)  # a wake-up would come within this; none may
        assert calls == []
        with manifest.open("a") as f:
            f.write("y")
            f.flush()
            await wait_for(lambda: watch.writing == {str(manifest)}, timeout=5, message="write")
        await wait_for(lambda: not watch.writing, timeout=5, message="closed after writing")
        seen = len(calls)
        watch.writing.clear()
        _editor_save(manifest, "z")
        await wait_for(lambda: len(calls) > seen, timeout=5, message="the rename seen")
        assert watch.writing == set()
    finally:
        watch.stop()


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
async def test_a_removed_directory_ends_the_watch(tmp_path: Path, polling: bool) -> None:
    """Removing the directory wakes the source and marks the watch over (`moved_or_gone`)."""
    directory = tmp_path / "manifests"
    directory.mkdir()
    watch = DirectoryWatch(
        directory, lambda: None, asyncio.get_running_loop(), force_polling=polling
    )
    try:
        directory.rmdir()
        await wait_for(watch.moved_or_gone, timeout=5, message="the watch ends with its dir")
    finally:
        watch.stop()


# Run in a child user namespace whose inotify limit is 0 (the limits in /proc/sys/user are the
# namespace's own, so nothing else on the machine is touched): the file source must fall back
# to polling, say why, and still see a dropped manifest.
CHILD = """
import asyncio, json, sys, tempfile
from pathlib import Path
from nodeagent.agent.sources.file import run_file_source

async def main():
    directory = Path(tempfile.mkdtemp())
    queue, reasons = asyncio.Queue(), []
    task = asyncio.create_task(run_file_source(
        directory=str(directory), node=json.loads(sys.argv[1]), queue=queue,
        rescan_interval=3600, on_polling=reasons.append))
    await asyncio.wait_for(queue.get(), 20)
    (directory / "w.yaml").write_text(sys.argv[2])
    update = await asyncio.wait_for(queue.get(), 20)
    task.cancel()
    pods = [p["metadata"]["name"] for p in update.pods]
    print(json.dumps({"reasons": [r.message for r in reasons], "pods": pods}))

asyncio.run(main())
"""


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="no user namespaces here")
@pytest.mark.parametrize(
    ("limit", "reason"),
    [
        ("max_inotify_instances", "the inotify instance limit is reached"),
        ("max_inotify_watches", "the inotify watch limit is reached"),
    ],
)
def test_an_inotify_limit_reached_falls_back_to_polling(limit: str, reason: str) -> None:
    """With no inotify instance (EMFILE) or watch (ENOSPC) left, the directory is polled, the
    reason is told once, and a dropped manifest is still seen."""
    script = f'echo 0 > /proc/sys/user/{limit} && exec "$0" -c "$1" "$2" "$3"'
    done = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", script, sys.executable, CHILD, json.dumps(NODE), POD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["pods"] == ["w-n1"]
    assert len(result["reasons"]) == 1
    assert result["reasons"][0].startswith(reason)
