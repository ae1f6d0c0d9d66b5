"""A big list is one snapshot, decoded a chunk per turn of the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nodeagent.server.store import sqlite
from nodeagent.server.store.sqlite import SqliteStore


def node(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "status": {"phase": "Running"}}


async def test_a_big_list_is_a_snapshot_and_lets_other_work_run(tmp_path: Path) -> None:
    """Listing more objects than one chunk: every object in key order at the version of the
    moment the list began; a write that lands while it decodes is not in it (a watch from the
    list's version replays it), and other tasks ran in between."""
    # a write started while the list decodes is not in it, committed before or after
    store = await SqliteStore.open(tmp_path / "s.db")
    try:
        count = sqlite.LIST_CHUNK * 2 + 7
        await asyncio.gather(*(store.create("nodes", node(f"n{i:05d}")) for i in range(count)))
        turns = 0
        late: list[asyncio.Task[dict[str, object]]] = []

        async def meanwhile() -> None:
            nonlocal turns
            while True:
                turns += 1
                if turns == 2:
                    late.append(asyncio.create_task(store.create("nodes", node("zz-late"))))
                await asyncio.sleep(0)

        other = asyncio.create_task(meanwhile())
        await asyncio.sleep(0)
        before = store.resource_version
        items, rv = await store.list("nodes")
        other.cancel()
        assert turns >= 2  # the other task ran while the list decoded
        assert rv == before == count
        assert [o["metadata"]["name"] for o in items] == [f"n{i:05d}" for i in range(count)]
        assert late, "a write was started during the list"
        await late[0]
        events = store.watch("nodes", since=rv)
        first = await anext(events)
        assert (first.type, first.object["metadata"]["name"]) == ("ADDED", "zz-late")
        await events.aclose()  # type: ignore[attr-defined]
    finally:
        await store.close()
