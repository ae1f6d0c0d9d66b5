"""The agent applies a terminal's latest size once more after it arrived (execstream): kubectl
sends two sizes at the start of a session, and the program must end at the second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from nodeagent.agent import execstream
from nodeagent.api import remotecommand as rc
from nodeagent.runtime.fake import FakeExec
from nodeagent.runtime.protocol import ExecResult
from tests.support.wait import wait_for

V5 = rc.PROTOCOLS[0]


class _ScriptedSocket:
    """The client's side of a WebSocket: the given binary messages, then open until closed."""

    def __init__(self, messages: list[bytes]) -> None:
        self.ws_protocol = V5
        self._messages = messages
        self.closed = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        for data in self._messages:
            yield aiohttp.WSMessage(aiohttp.WSMsgType.BINARY, data, None)
        await self.closed.wait()


def _size(width: int, height: int) -> bytes:
    return b"\x04" + f'{{"Width":{width},"Height":{height}}}'.encode()


@pytest.fixture(autouse=True)
def _short_reassert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execstream, "RESIZE_REASSERT_SECONDS", 0.05)


async def test_the_latest_size_is_applied_again_and_only_it() -> None:
    session = FakeExec(
        command=("sh",), stdin=True, tty=True, result=ExecResult(exit_code=0, output=b"")
    )
    ws = _ScriptedSocket([_size(113, 35), _size(112, 34)])
    options = rc.ExecOptions(command=("sh",), stdin=True, stdout=True, tty=True)
    pump = asyncio.create_task(execstream._pump_input(ws, session, options))  # type: ignore[arg-type]
    try:
        await wait_for(lambda: len(session.sizes) >= 3, timeout=5, message="a size applied again")
    finally:
        ws.closed.set()
        await pump
    assert session.sizes == [(113, 35), (112, 34), (112, 34)]


async def test_no_resize_without_a_terminal() -> None:
    session = FakeExec(
        command=("sh",), stdin=True, tty=False, result=ExecResult(exit_code=0, output=b"")
    )
    ws = _ScriptedSocket([_size(80, 24)])
    options = rc.ExecOptions(command=("sh",), stdin=True, stdout=True, tty=False)
    ws.closed.set()
    await execstream._pump_input(ws, session, options)  # type: ignore[arg-type]
    assert session.sizes == []
