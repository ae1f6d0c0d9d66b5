"""A watch over a slow link (a TCP proxy holding each chunk 50 ms), cut mid-stream (the proxy
closes every connection) and resumed from the last resourceVersion seen, against the real
server over SQLite: etcd's watch guarantees as checks.

- ordered: events come in resourceVersion order, across the cut too;
- unique: no event twice; reliable: no event missing (every write of the test is seen);
- resumable: a watch from the last version seen carries on where the cut one stopped;
- atomic: each event is one whole write (its object carries the value written at its version);
- bookmarkable: a watch-list's end BOOKMARK is at or after every event before it, before
  every event after it;
and a resume from before the watch window gets 410 Expired, after which the client relists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.server import ServerInfo, running_server
from tests.support.tcpproxy import TcpProxy
from tests.support.wait import wait_for

WINDOW = 50  # the server's watch window: small, so that a resume can fall out of it
PATH = "/api/v1/namespaces/default/configmaps"
WRITES = 120
OURS = {"fault": "watch"}
DELAY = 0.05  # seconds the proxy holds each chunk


async def _events(
    http: aiohttp.ClientSession, base: str, query: str
) -> AsyncIterator[dict[str, Any]]:
    # only the test's objects: the server makes its own too (kube-root-ca.crt)
    async with http.get(f"{base}{PATH}?watch=true&labelSelector=fault%3Dwatch&{query}") as r:
        assert r.status == 200, await r.text()
        async for line in r.content:
            if line.strip():
                yield json.loads(line)


async def _writer(srv: ServerInfo, written: dict[int, str], cut_at: asyncio.Event) -> None:
    """WRITES changes to three ConfigMaps; `cut_at` is set halfway."""
    async with srv.session() as http:
        for i in range(WRITES):
            name, value = f"w{i % 3}", f"value-{i}"
            body = {"metadata": {"name": name, "labels": OURS}, "data": {"v": value}}
            async with http.put(f"{srv.url}{PATH}/{name}", json=body) as r:
                if r.status == 404:
                    async with http.post(f"{srv.url}{PATH}", json=body) as created:
                        obj = await created.json()
                else:
                    obj = await r.json()
            written[int(obj["metadata"]["resourceVersion"])] = value
            if i == WRITES // 2:
                cut_at.set()
            await asyncio.sleep(0.005)


def _rv(event: dict[str, Any]) -> int:
    return int(event["object"]["metadata"]["resourceVersion"])


async def test_a_cut_watch_resumes_with_every_event_once_in_order(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data", watch_window=WINDOW * 10) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        async with TcpProxy.running("127.0.0.1", port) as proxy, srv.session() as http:
            through = f"https://{proxy.endpoint}"
            proxy.delay = DELAY  # a slow link too
            async with http.get(srv.url + PATH) as r:
                start_rv = int((await r.json())["metadata"]["resourceVersion"])
            written: dict[int, str] = {}
            cut_at = asyncio.Event()
            seen: list[dict[str, Any]] = []
            resumes = 0

            async def follow() -> None:
                """Watch through the proxy; after a cut, resume from the last version seen."""
                nonlocal resumes
                last = start_rv
                while True:
                    try:
                        async for event in _events(http, through, f"resourceVersion={last}"):
                            seen.append(event)
                            last = _rv(event)
                            if cut_at.is_set() and resumes == 0:
                                proxy.cut()  # mid-stream: the connection closes under us
                                proxy.restore()  # and the next watch connects again
                    except (aiohttp.ClientError, ConnectionError):
                        pass
                    resumes += 1

            follower = asyncio.create_task(follow())
            await _writer(srv, written, cut_at)
            await wait_for(
                lambda: {_rv(e) for e in seen} >= set(written),
                timeout=30,
                message="every write seen by the resumed watch",
            )
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        rvs = [_rv(e) for e in seen]
        assert resumes >= 1, "the watch was never cut"
        assert rvs == sorted(rvs), "ordered"
        assert len(rvs) == len(set(rvs)), "unique"
        assert set(rvs) == set(written), "reliable: every write seen"
        for event in seen:  # atomic: the whole object of that version
            assert event["object"]["data"]["v"] == written[_rv(event)]


async def test_a_resume_older_than_the_window_is_410_and_the_client_relists(
    tmp_path: Path,
) -> None:
    async with running_server(tmp_path / "data", watch_window=WINDOW) as srv, srv.session() as http:
        async with http.get(srv.url + PATH) as r:
            too_old = int((await r.json())["metadata"]["resourceVersion"])
        written: dict[int, str] = {}
        await _writer(srv, written, asyncio.Event())  # more writes than the window holds
        events = [e async for e in _events(http, srv.url, f"resourceVersion={too_old}")]
        assert [e["type"] for e in events] == ["ERROR"]
        assert events[0]["object"]["code"] == 410
        assert events[0]["object"]["reason"] == "Expired"
        # the client relists, then watches from the list's version: a watch-list shows the
        # objects, a BOOKMARK at the end of them, then only newer changes
        query = (
            "sendInitialEvents=true&allowWatchBookmarks=true"
            "&resourceVersionMatch=NotOlderThan&resourceVersion="
        )
        relisted: list[dict[str, Any]] = []
        async for event in _events(http, srv.url, query):
            relisted.append(event)
            if event["type"] == "BOOKMARK":
                break
        initial, bookmark = relisted[:-1], relisted[-1]
        assert bookmark["object"]["metadata"]["annotations"] == {
            "k8s.io/initial-events-end": "true"
        }
        ours = {e["object"]["metadata"]["name"]: e["object"]["data"]["v"] for e in initial}
        assert ours == {f"w{i % 3}": f"value-{i}" for i in range(WRITES - 3, WRITES)}
        assert all(_rv(e) <= _rv(bookmark) for e in initial), "bookmarkable"
