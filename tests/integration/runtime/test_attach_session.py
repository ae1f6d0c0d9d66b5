"""DockerRuntime.start_attach (kubectl attach's engine side) and the stdin/stdinOnce/tty of a
container spec, against the real podman API service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from nodeagent.runtime.docker import DockerRuntime
from nodeagent.runtime.protocol import ContainerState, ExecSession, RuntimeError_
from tests.integration.runtime.conftest import drain, info_of, make_pod, run_pod, wait_exited
from tests.support.podman import PodmanService

pytestmark = pytest.mark.podman


async def _read_until(session: ExecSession, marker: bytes) -> bytes:
    seen = b""
    async with asyncio.timeout(30):
        while marker not in seen:
            chunk = await session.read()
            assert chunk is not None, seen
            seen += chunk[1]
    return seen


async def _start(runtime: DockerRuntime, tmp_path: Path, container: dict[str, object]) -> str:
    pod = make_pod([container], hostNetwork=True)
    return (await run_pod(runtime, pod, tmp_path)).ids[str(container["name"])]


async def test_attach_streams_what_the_process_writes_until_it_ends(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """Lines arrive as written, stdout and stderr apart; the session ends with the process,
    and an attach reports exit code 0 (Success) whatever the process's own code."""
    script = "read go < /dev/stdin; echo out; echo err >&2; sleep 0.3; echo last; exit 4"
    cid = await _start(
        runtime,
        tmp_path,
        {"name": "c", "image": busybox, "command": ["sh", "-c", script], "stdin": True},
    )
    session = await runtime.start_attach(cid, stdin=True, tty=False)
    try:
        await session.write(b"go\n")  # the process starts writing only once we are attached
        chunks = await drain(session)
        assert [c for c in chunks if c[0] == 1] == [(1, b"out\n"), (1, b"last\n")]
        assert [c for c in chunks if c[0] == 2] == [(2, b"err\n")]
        assert await session.exit_code() == 0
    finally:
        await session.aclose()
    assert (await wait_exited(runtime, cid)).exit_code == 4


async def test_stdin_once_closes_the_process_stdin(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """`cat` with stdin and stdinOnce echoes what is written; the end of the attach's input
    is the end of cat's input, so cat exits."""
    cid = await _start(
        runtime,
        tmp_path,
        {"name": "c", "image": busybox, "command": ["cat"], "stdin": True, "stdinOnce": True},
    )
    session = await runtime.start_attach(cid, stdin=True, tty=False, stdin_once=True)
    try:
        await session.write(b"ping\n")
        assert await _read_until(session, b"ping\n") == b"ping\n"
        await session.close_stdin()
        assert await drain(session) == []
    finally:
        await session.aclose()
    assert (await wait_exited(runtime, cid)).exit_code == 0


async def test_without_stdin_once_the_process_keeps_its_stdin(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """Without stdinOnce, the end of an attach's input is not passed on: cat still reads
    what comes after it (containerd keeps such a stdin open)."""
    cid = await _start(
        runtime, tmp_path, {"name": "c", "image": busybox, "command": ["cat"], "stdin": True}
    )
    session = await runtime.start_attach(cid, stdin=True, tty=False)
    try:
        await session.write(b"one\n")
        assert await _read_until(session, b"one\n") == b"one\n"
        await session.close_stdin()
        await session.write(b"two\n")
        assert await _read_until(session, b"two\n") == b"two\n"
    finally:
        await session.aclose()


async def test_a_terminal_survives_a_detach(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """A shell on a terminal keeps running when an attach leaves; the next attach reaches
    it (kubectl attach -it again after Ctrl-C or a lost connection)."""
    cid = await _start(
        runtime,
        tmp_path,
        {"name": "c", "image": busybox, "command": ["sh"], "stdin": True, "tty": True},
    )
    for word in (b"first", b"second"):
        session = await runtime.start_attach(cid, stdin=True, tty=True)
        try:
            await session.write(b"echo " + word + b"-$((1+1))\n")
            await _read_until(session, word + b"-2")
        finally:
            await session.aclose()
    assert (await info_of(runtime, cid)).state is ContainerState.RUNNING


async def test_a_shell_with_stdin_and_tty_waits_for_its_terminal(
    runtime: DockerRuntime, busybox: str, podman_service: PodmanService, tmp_path: Path
) -> None:
    """A container spec with stdin and tty becomes OpenStdin/Tty in the engine; its `sh`
    stays running with no one attached, then reads the terminal of an attach, at the size
    set, and ends the session when it exits."""
    cid = await _start(
        runtime,
        tmp_path,
        {"name": "c", "image": busybox, "command": ["sh"], "stdin": True, "tty": True},
    )
    inspected = json.loads(podman_service.podman("container", "inspect", cid).stdout)[0]
    assert inspected["Config"]["OpenStdin"] is True
    assert inspected["Config"]["Tty"] is True
    assert inspected["Config"]["StdinOnce"] is False
    await asyncio.sleep(0.5)  # a shell without a terminal would have exited by now
    assert (await info_of(runtime, cid)).state is ContainerState.RUNNING
    session = await runtime.start_attach(cid, stdin=True, tty=True)
    try:
        await session.resize(width=97, height=21)
        await session.write(b"tty; stty size; echo oops >&2; exit 3\n")
        output = b"".join(data for channel, data in await drain(session) if channel == 1)
        assert b"/dev/pts/" in output or b"/dev/console" in output, output
        assert b"21 97" in output
        assert b"oops" in output
        assert await session.exit_code() == 0
    finally:
        await session.aclose()
    assert (await wait_exited(runtime, cid)).exit_code == 3


async def test_attach_to_a_stopped_container_is_an_error(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """A container that is not running is refused at once (podman would wait forever)."""
    cid = await _start(runtime, tmp_path, {"name": "c", "image": busybox, "command": ["true"]})
    await wait_exited(runtime, cid)
    with pytest.raises(RuntimeError_) as caught:
        async with asyncio.timeout(30):
            await runtime.start_attach(cid, stdin=False, tty=False)
    assert caught.value.reason == "NotRunning"
    assert "exited" in str(caught.value)
