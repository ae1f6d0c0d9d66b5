"""Watches over HTTPS: resume from a version, 410 when too old, watch-list, selectors, Tables."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from nodeagent.server.rest import watch
from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo, running_server

PODS = "/api/v1/namespaces/default/pods"
DS = "/apis/apps/v1/namespaces/default/daemonsets"


async def events(
    session: aiohttp.ClientSession,
    url: str,
    *,
    count: int,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> list[Any]:
    """The first `count` watch events of a stream (fails at the deadline)."""
    out: list[Any] = []
    async with asyncio.timeout(timeout), session.get(url, headers=headers) as r:
        assert r.status == 200, await r.text()
        async for line in _lines(r.content):
            out.append(json.loads(line))
            if len(out) == count:
                break
    return out


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    while True:
        line = await stream.readline()
        if not line:
            return
        if line.strip():
            yield line


async def test_watch_resumes_after_a_version(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """A watch from resourceVersion N gets only the changes after N, in order."""
    _, first = await call(admin, server, "POST", PODS, objects.pod("a"))
    rv = first["metadata"]["resourceVersion"]
    await call(admin, server, "POST", PODS, objects.pod("b"))
    await call(admin, server, "DELETE", f"{PODS}/a")
    got = await events(admin, f"{server.url}{PODS}?watch=true&resourceVersion={rv}", count=2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    assert int(got[1]["object"]["metadata"]["resourceVersion"]) > int(
        got[0]["object"]["metadata"]["resourceVersion"]
    )


async def test_live_events_arrive(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """A watch started now sees a later create and update."""
    _, listed = await call(admin, server, "GET", PODS)
    url = f"{server.url}{PODS}?watch=true&resourceVersion={listed['metadata']['resourceVersion']}"
    watching = asyncio.create_task(events(admin, url, count=2))
    await asyncio.sleep(0)  # let the watch open; the events are resumable either way
    _, pod = await call(admin, server, "POST", PODS, objects.pod("live"))
    pod["metadata"]["labels"] = {"x": "1"}
    await call(admin, server, "PUT", f"{PODS}/live", pod)
    got = await watching
    assert [e["type"] for e in got] == ["ADDED", "MODIFIED"]


async def test_too_old_version_is_410(tmp_path: Any) -> None:
    """A version older than the watch window ends the stream with an ERROR 410 Expired."""
    async with (
        running_server(tmp_path / "data", run_controllers=False, watch_window=3) as server,
        server.session() as admin,
    ):
        _, first = await call(admin, server, "POST", PODS, objects.pod("p0"))
        for i in range(1, 6):
            await call(admin, server, "POST", PODS, objects.pod(f"p{i}"))
        rv = first["metadata"]["resourceVersion"]
        got = await events(admin, f"{server.url}{PODS}?watch=true&resourceVersion={rv}", count=1)
        assert got[0]["type"] == "ERROR"
        status = got[0]["object"]
        assert (status["code"], status["reason"]) == (410, "Expired")
        assert status["message"].startswith(f"too old resource version: {rv} (")


async def test_watch_list_sends_initial_events_then_bookmark(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """sendInitialEvents=true: ADDED per matching object, then the initial-events-end BOOKMARK."""
    await call(admin, server, "POST", DS, objects.daemonset("fluentd"))
    await call(admin, server, "POST", DS, objects.daemonset("other"))
    url = (
        f"{server.url}{DS}?allowWatchBookmarks=true&fieldSelector=metadata.name%3Dfluentd"
        "&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&timeoutSeconds=30&watch=true"
    )
    got = await events(admin, url, count=2)
    assert got[0]["type"] == "ADDED"
    assert got[0]["object"]["metadata"]["name"] == "fluentd"
    assert got[1]["type"] == "BOOKMARK"
    bookmark = got[1]["object"]
    assert bookmark["kind"] == "DaemonSet"
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_label_selector_watch_sees_object_leave(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """An object that stops matching the selector is sent as DELETED."""
    _, pod = await call(admin, server, "POST", PODS, objects.pod("p", labels={"app": "web"}))
    rv = pod["metadata"]["resourceVersion"]
    pod["metadata"]["labels"] = {"app": "db"}
    await call(admin, server, "PUT", f"{PODS}/p", pod)
    url = f"{server.url}{PODS}?watch=true&resourceVersion={rv}&labelSelector=app%3Dweb"
    got = await events(admin, url, count=1)
    assert got[0]["type"] == "DELETED"
    assert got[0]["object"]["metadata"]["labels"] == {"app": "db"}


async def test_list_selectors(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """labelSelector and fieldSelector (spec.nodeName, status.phase) filter lists."""
    await call(admin, server, "POST", PODS, objects.pod("a", node="n1", labels={"app": "x"}))
    await call(admin, server, "POST", PODS, objects.pod("b", node="n2", labels={"app": "x"}))
    await call(admin, server, "POST", PODS, objects.pod("c", node="n1", labels={"app": "y"}))

    async def names(query: str) -> list[str]:
        status, body = await call(admin, server, "GET", f"{PODS}?{query}")
        assert status == 200, body
        return sorted(i["metadata"]["name"] for i in body["items"])

    assert await names("labelSelector=app%3Dx") == ["a", "b"]
    assert await names("labelSelector=app+in+(x,y),app!%3Dy") == ["a", "b"]
    assert await names("fieldSelector=spec.nodeName%3Dn1") == ["a", "c"]
    assert await names("fieldSelector=spec.nodeName%3Dn1,status.phase!%3DFailed") == ["a", "c"]
    assert await names("fieldSelector=metadata.name%3Db") == ["b"]
    status, body = await call(admin, server, "GET", f"{PODS}?labelSelector=%3D%3D%3D")
    assert (status, body["reason"]) == (400, "BadRequest")


async def test_table_watch_events(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """With Accept as=Table, `get -w` gets one-row Tables; the first carries the columns."""
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    await call(admin, server, "POST", DS, objects.daemonset("t1"))
    await call(admin, server, "POST", DS, objects.daemonset("t2"))
    url = f"{server.url}{DS}?watch=true"
    got = await events(admin, url, count=2, headers={"Accept": accept})
    assert [e["object"]["kind"] for e in got] == ["Table", "Table"]
    assert got[0]["object"]["columnDefinitions"]
    assert got[1]["object"]["columnDefinitions"] == []
    assert [e["object"]["rows"][0]["cells"][0] for e in got] == ["t1", "t2"]


async def test_table_list(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """`kubectl get ds` asks for a Table and gets one row per DaemonSet."""
    await call(admin, server, "POST", DS, objects.daemonset("t1"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table = await call(admin, server, "GET", f"{DS}?limit=500", headers={"Accept": accept})
    assert status == 200
    assert table["kind"] == "Table"
    assert [r["cells"][0] for r in table["rows"]] == ["t1"]


async def test_watch_timeout_ends_the_stream(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """timeoutSeconds=1 closes the stream cleanly."""
    async with asyncio.timeout(10):
        async with admin.get(f"{server.url}{PODS}?watch=true&timeoutSeconds=1") as r:
            assert r.status == 200
            body = await r.read()
    assert body == b""


async def test_watch_on_an_object_path(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """`GET .../pods/NAME?watch=true` watches that one object only."""
    await call(admin, server, "POST", PODS, objects.pod("one"))
    await call(admin, server, "POST", PODS, objects.pod("two"))
    got = await events(admin, f"{server.url}{PODS}/two?watch=true", count=1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [("ADDED", "two")]


async def test_node_watch_sees_only_its_pods(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """A spec.nodeName watch gets its node's pods only (a pod never moves: its nodeName is
    immutable), and their deletion."""
    _, first = await call(admin, server, "POST", PODS, objects.pod("elsewhere", node="n2"))
    rv = first["metadata"]["resourceVersion"]
    _, mine = await call(admin, server, "POST", PODS, objects.pod("mine", node="n1"))
    await call(admin, server, "POST", PODS, objects.pod("other", node="n2"))
    mine["spec"]["nodeName"] = "n3"
    status, _ = await call(admin, server, "PUT", f"{PODS}/mine", mine)
    assert status == 422
    status, _ = await call(admin, server, "DELETE", f"{PODS}/mine?gracePeriodSeconds=0")
    assert status == 200
    url = (
        f"{server.url}/api/v1/pods?watch=true&resourceVersion={rv}&fieldSelector=spec.nodeName%3Dn1"
    )
    got = await events(admin, url, count=2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [
        ("ADDED", "mine"),
        ("DELETED", "mine"),
    ]


async def test_idle_watch_gets_bookmarks(
    server: ServerInfo, admin: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """allowWatchBookmarks: an idle stream gets BOOKMARKs carrying the last version sent."""
    monkeypatch.setattr(watch, "BOOKMARK_SECONDS", 0.1)
    _, pod = await call(admin, server, "POST", PODS, objects.pod("a"))
    rv = int(pod["metadata"]["resourceVersion"])
    url = f"{server.url}{PODS}?watch=true&resourceVersion={rv - 1}&allowWatchBookmarks=true"
    got = await events(admin, url, count=3)
    assert [e["type"] for e in got] == ["ADDED", "BOOKMARK", "BOOKMARK"]
    assert got[1]["object"]["metadata"] == {"resourceVersion": str(rv)}
