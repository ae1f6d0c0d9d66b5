"""DockerRuntime.start_exec (streams, stdin and its EOF, a terminal and its size) and the log
options (timestamps, since) against the real podman API service."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from nodeagent.runtime.docker import DockerRuntime
from nodeagent.runtime.protocol import RuntimeError_
from tests.integration.runtime.conftest import drain, make_pod, run_pod

pytestmark = pytest.mark.podman
SLEEPER = ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


async def _sleeper(runtime: DockerRuntime, busybox: str, tmp_path: Path) -> str:
    pod = make_pod([{"name": "c", "image": busybox, "command": SLEEPER}], hostNetwork=True)
    return (await run_pod(runtime, pod, tmp_path)).ids["c"]


async def test_exec_session_streams_stdin_and_exit_code(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """stdout and stderr arrive apart and as written; stdin reaches the command and closing
    it ends `cat`; the exit code is the command's."""
    cid = await _sleeper(runtime, busybox, tmp_path)
    session = await runtime.start_exec(
        cid, ["sh", "-c", "echo out; echo err >&2; exit 4"], stdin=False, tty=False
    )
    try:
        chunks = await drain(session)
        assert sorted(chunks) == [(1, b"out\n"), (2, b"err\n")]
        assert await session.exit_code() == 4
    finally:
        await session.aclose()

    session = await runtime.start_exec(cid, ["cat"], stdin=True, tty=False)
    try:
        await session.write(b"ping\n")
        async with asyncio.timeout(30):
            assert await session.read() == (1, b"ping\n")  # echoed before stdin ends
        await session.close_stdin()
        assert await drain(session) == []
        assert await session.exit_code() == 0
    finally:
        await session.aclose()


async def test_exec_session_with_a_terminal(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """With tty the command has a terminal of the size set, and all output is stdout."""
    cid = await _sleeper(runtime, busybox, tmp_path)
    session = await runtime.start_exec(cid, ["sh"], stdin=True, tty=True)
    try:
        await session.resize(width=97, height=21)
        await session.write(b"tty; stty size; echo oops >&2; exit 2\n")
        output = b"".join(data for channel, data in await drain(session) if channel == 1)
        assert b"/dev/pts/" in output
        assert b"21 97" in output
        assert b"oops" in output
        assert await session.exit_code() == 2
    finally:
        await session.aclose()


async def test_exec_in_a_stopped_container_is_an_error(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """An exec the engine refuses raises RuntimeError_ at start, not a silent empty stream."""
    pod = make_pod([{"name": "c", "image": busybox, "command": ["true"]}], hostNetwork=True)
    cid = (await run_pod(runtime, pod, tmp_path)).ids["c"]
    await runtime.stop_container(cid, grace_seconds=0)
    with pytest.raises(RuntimeError_):
        await runtime.start_exec(cid, ["true"], stdin=False, tty=False)


async def test_logs_timestamps_and_since(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """timestamps prefixes each line with an RFC 3339 time; since keeps only later lines,
    for logs and follow_logs alike."""
    cid = await _sleeper(runtime, busybox, tmp_path)

    async def say(text: str) -> None:
        session = await runtime.start_exec(
            cid, ["sh", "-c", f"echo {text} > /proc/1/fd/1"], stdin=False, tty=False
        )
        await drain(session)
        await session.aclose()

    await say("before")
    between = time.time()
    await say("after")
    stamped = (await runtime.logs(cid, timestamps=True)).decode().splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["before", "after"]
    assert all(
        re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) ", s) for s in stamped
    )
    assert await runtime.logs(cid, since=between) == b"after\n"
    follow = runtime.follow_logs(cid, since=between, timestamps=True)
    try:
        async with asyncio.timeout(30):
            first = await anext(follow)
    finally:
        await follow.aclose()  # type: ignore[attr-defined]
    assert first.endswith(b" after\n")
