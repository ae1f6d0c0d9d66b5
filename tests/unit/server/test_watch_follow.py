"""The watch stream's follower: a burst goes out at once, bookmarks only when idle, a dead
client of an idle watch ends it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from nodeagent.server.rest import watch
from nodeagent.server.store.protocol import WatchEvent


class _Response:
    def __init__(self, *, fail: bool = False) -> None:
        self.lines: list[Any] = []
        self.fail = fail

    async def write(self, data: bytes) -> None:
        if self.fail:
            raise ConnectionResetError("client gone")
        self.lines.append(json.loads(data))


def _stream(response: _Response) -> watch._Stream:
    resource = SimpleNamespace(name="pods", kind="Pod", api_version="v1")
    call: Any = SimpleNamespace(target=SimpleNamespace(resource=resource))
    return watch._Stream(response, call, table=False, include_object="Object")  # type: ignore[arg-type]


def _event(rv: int) -> WatchEvent:
    obj = {"metadata": {"name": f"p{rv}", "resourceVersion": str(rv)}}
    return WatchEvent(type="ADDED", resource="pods", object=obj, resource_version=rv)


async def _burst(count: int, *, then_wait: asyncio.Event) -> AsyncIterator[WatchEvent]:
    for rv in range(1, count + 1):
        yield _event(rv)
    await then_wait.wait()


@pytest.mark.parametrize("bookmarks", [None, 60.0], ids=["plain", "with-bookmarks"])
async def test_a_burst_of_waiting_events_goes_out_before_anything_else_runs(
    bookmarks: float | None,
) -> None:
    """Events already waiting are written in one go, not one per event loop turn (a busy
    server's all-pods watch fell ~20 s behind a 1,000-node rollout that way)."""
    response = _Response()
    stop = asyncio.Event()
    seen_by_other: list[int] = []

    async def other() -> None:
        seen_by_other.append(len(response.lines))

    follower = asyncio.create_task(
        watch._follow(
            _burst(500, then_wait=stop), _stream(response), bookmark_every=bookmarks, last_rv=0
        )
    )
    await asyncio.sleep(0)  # the follower starts
    await other()
    await asyncio.sleep(0)
    assert len(response.lines) == 500
    assert seen_by_other == [500]
    stop.set()
    await follower


async def test_an_idle_stream_gets_bookmarks_carrying_the_last_version_sent() -> None:
    """With bookmarks on, an idle interval after the last event brings a BOOKMARK at its rv."""
    response = _Response()
    stop = asyncio.Event()
    stream = _stream(response)
    follower = asyncio.create_task(
        watch._follow(_burst(2, then_wait=stop), stream, bookmark_every=0.01, last_rv=0)
    )

    async def bookmarked() -> None:
        while not any(line["type"] == "BOOKMARK" for line in response.lines):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(bookmarked(), timeout=10)
    stop.set()
    await follower
    kinds = [line["type"] for line in response.lines]
    assert kinds[:3] == ["ADDED", "ADDED", "BOOKMARK"]
    assert response.lines[2]["object"]["metadata"] == {"resourceVersion": "2"}


async def test_a_gone_client_of_an_idle_watch_ends_the_stream_with_the_write_error() -> None:
    """A bookmark that cannot be written (the client left) ends the follower at once, with
    the connection error, although no event is coming."""
    never = asyncio.Event()

    async def quiet() -> AsyncIterator[WatchEvent]:
        await never.wait()
        yield _event(1)

    follower = watch._follow(quiet(), _stream(_Response(fail=True)), bookmark_every=0.01, last_rv=0)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(follower, timeout=10)
