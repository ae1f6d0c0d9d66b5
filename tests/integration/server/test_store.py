"""The SQLite store on a real file: CAS, versions across reopen, the node index, the window."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nodeagent.api.errors import AlreadyExists, Conflict, Gone, NotFound
from nodeagent.server.store.protocol import WatchEvent
from nodeagent.server.store.sqlite import SqliteStore


def pod(name: str, node: str = "") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node}}


async def test_cas_and_errors(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.db")
    try:
        created = await store.create("pods", pod("a"))
        assert created["metadata"]["resourceVersion"] == "1"
        with pytest.raises(AlreadyExists):
            await store.create("pods", pod("a"))
        stale = dict(created, metadata=dict(created["metadata"]))
        updated = await store.update("pods", created)
        assert updated["metadata"]["resourceVersion"] == "2"
        with pytest.raises(Conflict):
            await store.update("pods", stale)
        with pytest.raises(Conflict):
            await store.delete("pods", "default", "a", resource_version=1)
        deleted = await store.delete("pods", "default", "a", resource_version=2)
        assert deleted["metadata"]["resourceVersion"] == "3"
        with pytest.raises(NotFound):
            await store.get("pods", "default", "a")
    finally:
        await store.close()


async def test_versions_continue_after_reopen(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.db")
    await store.create("pods", pod("a", "n1"))
    await store.create("pods", pod("b", "n2"))
    await store.close()
    store = await SqliteStore.open(tmp_path / "s.db")
    try:
        assert store.resource_version == 2
        items, rv = await store.list("pods", node_name="n1")
        assert ([i["metadata"]["name"] for i in items], rv) == (["a"], 2)
        c = await store.create("pods", pod("c"))
        assert c["metadata"]["resourceVersion"] == "3"
        with pytest.raises(Gone):  # the window starts empty after a restart
            await anext(aiter(store.watch("pods", since=1)))
    finally:
        await store.close()


async def test_node_index_follows_rebinding(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.db")
    try:
        p = await store.create("pods", pod("a", "n1"))
        p["spec"]["nodeName"] = "n2"
        await store.update("pods", p)
        assert (await store.list("pods", node_name="n1"))[0] == []
        assert len((await store.list("pods", node_name="n2"))[0]) == 1
    finally:
        await store.close()


async def test_watch_replays_then_follows(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.db", watch_window=100)
    try:
        await store.create("pods", pod("a"))
        await store.create("daemonsets", pod("not-a-pod"))
        got: list[WatchEvent] = []

        async def follow() -> None:
            async for ev in store.watch("pods", since=0):
                got.append(ev)
                if len(got) == 2:
                    return

        task = asyncio.create_task(follow())
        await store.create("pods", pod("b"))
        await asyncio.wait_for(task, timeout=5)
        assert [(e.type, e.object["metadata"]["name"], e.resource_version) for e in got] == [
            ("ADDED", "a", 1),
            ("ADDED", "b", 3),
        ]
    finally:
        await store.close()


async def test_window_overflow_is_gone(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.db", watch_window=2)
    try:
        for name in "abcd":
            await store.create("pods", pod(name))
        with pytest.raises(Gone, match="too old resource version: 1"):
            await anext(aiter(store.watch("pods", since=1)))
        ev = await anext(aiter(store.watch("pods", since=2)))
        assert ev.resource_version == 3
    finally:
        await store.close()
