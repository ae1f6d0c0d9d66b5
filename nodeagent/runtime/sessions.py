"""The engine's hijacked streams as ExecSessions: DockerExec (a command started by exec) and
DockerAttach (a container's main process, kubectl attach), and the mapping of engine failures
to RuntimeError_ that they and docker.py share. Opening them is docker.py's job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import aiodocker
import aiohttp
import structlog
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from nodeagent.runtime.protocol import RuntimeError_, RuntimeUnavailable

log = structlog.get_logger()

NOT_FOUND = 404
EXEC_EXIT_WAIT = 2.0  # seconds an ended exec may still be reported running


@contextlib.contextmanager
def engine_errors(what: str, *, reason: str = "RuntimeError") -> Iterator[None]:
    """Map aiodocker/aiohttp failures to RuntimeError_ (unreachable engine: RuntimeUnavailable)."""
    try:
        yield
    except aiodocker.DockerError as exc:
        if exc.status == 900:
            raise RuntimeUnavailable(f"{what}: {exc.message}") from exc
        # podman answers 500 "...: no such container" for one removed while we looked it up.
        gone = exc.status == NOT_FOUND or "no such container" in str(exc.message).lower()
        word = "NotFound" if gone else reason
        raise RuntimeError_(f"{what}: {exc.message}", reason=word) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise RuntimeUnavailable(f"{what}: {exc}") from exc


class _Hijacked:
    """Reading, writing and detaching an engine stream (the upgraded HTTP connection)."""

    def __init__(self, *, what: str, stream: Stream) -> None:
        self._what = what
        self._stream = stream

    async def read(self) -> tuple[int, bytes] | None:
        with engine_errors(self._what):
            message = await self._stream.read_out()
        if message is None:
            return None
        return (2 if message.stream == 2 else 1), bytes(message.data)

    async def write(self, data: bytes) -> None:
        with engine_errors(self._what):
            await self._stream.write_in(data)

    def _half_close(self) -> None:
        """Half-close the connection: the engine closes the process's stdin (as `docker exec`
        and `docker attach` do at the end of their input); aiodocker's Stream has no call for it."""
        response = getattr(self._stream, "_resp", None)
        connection = getattr(response, "connection", None)
        transport = getattr(connection, "transport", None)
        if transport is not None and transport.can_write_eof():
            transport.write_eof()
        else:
            log.warning("stdin_close_unsupported", stream=self._what)

    async def aclose(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, OSError, RuntimeError):
            await self._stream.close()


class DockerExec(_Hijacked):
    """ExecSession over aiodocker's exec stream."""

    def __init__(self, *, what: str, execution: Exec, stream: Stream) -> None:
        super().__init__(what=what, stream=stream)
        self._execution = execution

    async def close_stdin(self) -> None:
        self._half_close()

    async def resize(self, *, width: int, height: int) -> None:
        with engine_errors(self._what):
            await self._execution.resize(h=height, w=width)

    async def exit_code(self) -> int:
        """ExitCode from the exec's inspect; the engine may still say Running for a moment
        after the stream ended, so ask again briefly."""
        deadline = asyncio.get_running_loop().time() + EXEC_EXIT_WAIT
        while True:
            with engine_errors(self._what):
                result = await self._execution.inspect()
            code = result.get("ExitCode")
            if not result.get("Running") and code is not None:
                return int(code)
            if asyncio.get_running_loop().time() > deadline:
                return int(code) if code is not None else -1
            await asyncio.sleep(0.05)


class DockerAttach(_Hijacked):
    """ExecSession over the engine's attach stream of a container's main process
    (POST /containers/{id}/attach, hijacked)."""

    def __init__(
        self,
        *,
        what: str,
        docker: aiodocker.Docker,
        container_id: str,
        stream: Stream,
        stdin_once: bool,
    ) -> None:
        super().__init__(what=what, stream=stream)
        self._docker = docker
        self._container_id = container_id
        self._stdin_once = stdin_once

    async def close_stdin(self) -> None:
        """For a stdinOnce container the process reads EOF (the engine closes its stdin when
        the attach's input ends). Otherwise only this attach's input ends: the process's stdin
        stays open for the next attach, as containerd keeps it, and the output goes on (podman
        would end the whole attach on a half-close, so none is sent)."""
        if self._stdin_once:
            self._half_close()

    async def resize(self, *, width: int, height: int) -> None:
        with engine_errors(self._what):
            await self._docker._query_json(
                f"containers/{self._container_id}/resize",
                "POST",
                params={"h": height, "w": width},
            )

    async def exit_code(self) -> int:
        """0: an attach has no status of its own (kubelet reports Success when it ends)."""
        return 0
