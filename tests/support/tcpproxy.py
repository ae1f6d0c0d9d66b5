"""A TCP forwarder in this event loop that a test can cut and restore (a partition, in-process).

async with TcpProxy.running("127.0.0.1", 2379) as proxy:   # proxy.endpoint: "127.0.0.1:P"
    proxy.cut()       # close every connection; new ones are refused until restore()
    proxy.restore()
    proxy.delay = 0.2 # each chunk forwarded 200 ms late, in order (this kernel has no netem)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._open = True
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0
        self.delay = 0.0  # seconds each chunk waits before it is forwarded

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, host: str, port: int) -> AsyncIterator[TcpProxy]:
        proxy = cls(host, port)
        proxy._server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
        proxy.port = int(proxy._server.sockets[0].getsockname()[1])
        try:
            yield proxy
        finally:
            proxy.cut()
            if proxy._handlers:
                await asyncio.wait(proxy._handlers, timeout=5)
            proxy._server.close()
            await proxy._server.wait_closed()

    def cut(self) -> None:
        self._open = False
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    def restore(self) -> None:
        self._open = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
