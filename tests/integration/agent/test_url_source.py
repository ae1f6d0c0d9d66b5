"""The manifest URL source against a real HTTP server on 127.0.0.1: ETag, changes, bad bodies."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.sources.url import run_url_source
from tests.support import bombs
from tests.support.wait import wait_for

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {}}, "spec": {}}


def manifest(name: str) -> str:
    container = {"name": "c", "image": "localhost/busybox:1"}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [container]},
        }
    )


@dataclass
class Served:
    body: str
    requests: list[str | None] = field(default_factory=list)  # If-None-Match of each request


@pytest.fixture
async def served() -> AsyncIterator[tuple[Served, str]]:
    state = Served(body=manifest("one"))

    async def handler(request: web.Request) -> web.Response:
        state.requests.append(request.headers.get("If-None-Match"))
        etag = f'"{hash(state.body) & 0xFFFFFFFF:x}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(text=state.body, headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/pods.json", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}/pods.json"
    await runner.cleanup()


async def test_url_source_polls_with_etag_and_keeps_last_good(served: tuple[Served, str]) -> None:
    """First body -> one SET; unchanged (304) -> nothing; new body -> new SET; a bad body keeps
    the pods and reports the URL."""
    state, url = served
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = asyncio.create_task(run_url_source(url=url, node=NODE, queue=queue, interval=0.1))
    try:
        first = await asyncio.wait_for(queue.get(), 10)
        assert first.source is SourceName.HTTP
        assert [p["metadata"]["name"] for p in first.pods] == ["one-n1"]
        await wait_for(lambda: len(state.requests) >= 3, timeout=10, message="polled again")
        assert state.requests[1] is not None  # If-None-Match sent
        assert queue.empty()
        state.body = manifest("two")
        second = await asyncio.wait_for(queue.get(), 10)
        assert [p["metadata"]["name"] for p in second.pods] == ["two-n1"]
        state.body = "kind: Pod\nmetadata: ["
        third = await asyncio.wait_for(queue.get(), 10)
        assert third.pods == second.pods
        assert [r.origin for r in third.rejected] == [url]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(bombs.yaml_alias_bomb("Pod", "laughs"), "excessive aliasing", id="aliases"),
        pytest.param(bombs.deep_json_object(), "more than 100 levels", id="deep-json"),
        pytest.param(bombs.deep_yaml_flow(), "more than 100 levels", id="deep-yaml"),
        pytest.param(
            b"kind: Pod\nmetadata: {name: x}\nspec: 5\n", "spec: Invalid value: 5", id="types"
        ),
    ],
)
async def test_a_hostile_body_is_the_urls_error(
    served: tuple[Served, str], body: bytes, fragment: str
) -> None:
    """A bomb served at the URL is reported as the URL's error, found before it is expanded;
    the pods the URL gave before are kept."""
    state, url = served
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = asyncio.create_task(run_url_source(url=url, node=NODE, queue=queue, interval=0.1))
    try:
        first = await asyncio.wait_for(queue.get(), 10)
        state.body = body.decode()
        second = await asyncio.wait_for(queue.get(), 10)
        assert second.pods == first.pods
        (rejected,) = second.rejected
        assert rejected.origin == url
        assert fragment in rejected.error
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
