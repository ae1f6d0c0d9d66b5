"""The SQLite store's group commit: concurrent writes share transactions yet each keeps its own
CAS answer, versions stay gapless and in order for watchers, and a cancelled caller's write
neither splits file from memory nor leaves an unretrieved exception behind."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from nodeagent.api.errors import AlreadyExists, Conflict
from nodeagent.server.store.protocol import WatchEvent
from nodeagent.server.store.sqlite import SqliteStore
from tests.support.wait import wait_for


def pod(name: str, node: str = "") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node}}


async def test_concurrent_writes_share_commits_and_keep_their_own_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SqliteStore.open(tmp_path / "s.db", watch_window=1000)
    commits = 0
    persist = store._persist

    def counting(*args: Any) -> None:
        nonlocal commits
        commits += 1
        persist(*args)

    monkeypatch.setattr(store, "_persist", counting)
    seen: list[WatchEvent] = []

    async def follow() -> None:
        async for ev in store.watch("pods", since=0):
            seen.append(ev)
            if len(seen) == 150:
                return

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0)
    try:
        # 100 creates, 50 of them again (AlreadyExists), then stale and fresh updates at once
        results = await asyncio.gather(
            *(store.create("pods", pod(f"p{i}", f"n{i % 7}")) for i in range(100)),
            *(store.create("pods", pod(f"p{i}")) for i in range(50)),
            return_exceptions=True,
        )
        assert all(isinstance(r, dict) for r in results[:100])
        assert all(isinstance(r, AlreadyExists) for r in results[100:])
        assert commits < 100
        fresh = [await store.get("pods", "default", f"p{i}") for i in range(50)]
        stale = [dict(p, metadata=dict(p["metadata"], resourceVersion="1")) for p in fresh[1:]]
        results = await asyncio.gather(
            *(store.update("pods", p) for p in fresh),
            *(store.update("pods", p) for p in stale),
            return_exceptions=True,
        )
        assert all(isinstance(r, dict) for r in results[:50])
        assert all(isinstance(r, Conflict) for r in results[50:])
        await asyncio.wait_for(follower, 10)
        versions = [ev.resource_version for ev in seen]
        assert versions == list(range(1, 151))
        assert store.resource_version == 150
    finally:
        follower.cancel()
        await store.close()
    reopened = await SqliteStore.open(tmp_path / "s.db")
    try:
        items, rv = await reopened.list("pods")
        assert (len(items), rv) == (100, 150)
        assert len((await reopened.list("pods", node_name="n3"))[0]) == len(range(3, 100, 7))
    finally:
        await reopened.close()


async def test_a_cancelled_caller_leaves_no_unretrieved_exception(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.db")
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        await store.create("pods", pod("a"))
        # writes ahead of ours, so ours are still queued when their callers give up
        ahead = [asyncio.create_task(store.create("pods", pod(f"x{i}"))) for i in range(20)]
        again = asyncio.create_task(store.create("pods", pod("a")))  # will be AlreadyExists
        fresh = asyncio.create_task(store.create("pods", pod("b")))
        await asyncio.sleep(0)
        again.cancel()
        fresh.cancel()
        for t in (again, fresh):
            with pytest.raises(asyncio.CancelledError):
                await t
        await asyncio.gather(*ahead)

        async def b_exists() -> bool:
            items, _rv = await store.list("pods")
            return "b" in {i["metadata"]["name"] for i in items}

        await wait_for(b_exists, timeout=10, message="the cancelled caller's write committed")
        del again, fresh, ahead
        gc.collect()
        await asyncio.sleep(0)
        assert [c.get("message") for c in reported] == []
    finally:
        loop.set_exception_handler(None)
        await store.close()
