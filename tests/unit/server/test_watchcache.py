"""The watch window's fan-out: a change reaches only the watchers of its resource, and a pod's
change only its node's watchers (before and after a rebinding) and the unfiltered ones."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from nodeagent.server.store import watchcache
from nodeagent.server.store.protocol import WatchEvent
from nodeagent.server.store.sharedchange import SharedChange
from nodeagent.server.store.watchcache import WatchCache
from tests.support.wait import wait_for


@pytest.fixture
def offers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The resource of every change offered to any watcher."""
    seen: list[str] = []
    offer = watchcache._Watcher.offer

    def counting(
        self: watchcache._Watcher, change: watchcache._Change, shared: SharedChange
    ) -> None:
        seen.append(change.resource)
        offer(self, change, shared)

    monkeypatch.setattr(watchcache._Watcher, "offer", counting)
    return seen


def publish(cache: WatchCache, rv: int, resource: str, name: str, *nodes: str) -> None:
    cache.publish(
        resource=resource,
        namespace="default" if resource == "pods" else "",
        type="MODIFIED",
        resource_version=rv,
        text=f'{{"metadata":{{"name":"{name}"}}}}',
        prev_text=None,
        node=nodes[-1] if nodes else "",  # the last one after the change
        prev_node=nodes[0] if len(nodes) > 1 else "",  # the first before it, when rebound
    )


async def test_changes_reach_only_the_watchers_that_want_them(offers: list[str]) -> None:
    cache = WatchCache(capacity=100, start=0)
    got: dict[str, list[WatchEvent]] = {}

    async def follow(label: str, resource: str, node: str | None) -> None:
        got[label] = []
        async for ev in cache.watch(resource, since=0, node_name=node):
            got[label].append(ev)

    tasks = [asyncio.create_task(follow(f"pods@n{i}", "pods", f"n{i}")) for i in range(100)] + [
        asyncio.create_task(follow("all-pods", "pods", None)),
        asyncio.create_task(follow("nodes", "nodes", None)),
    ]
    await wait_for(lambda: cache.watcher_count == 102, timeout=5, message="all watching")
    try:
        for i in range(100):  # a heartbeat: a lease per node; no pod watcher is offered one
            publish(cache, i + 1, "leases", f"n{i}")
        assert offers == []
        publish(cache, 101, "nodes", "n1")
        publish(cache, 102, "pods", "p", "n1")
        publish(cache, 103, "pods", "p", "n1", "n2")  # rebound from n1 to n2
        publish(cache, 104, "pods", "q", "n3")
        assert (
            sorted(offers) == ["nodes"] + ["pods"] * 7
        )  # 102: all + n1; 103: all + n1 + n2; 104: all + n3
        await wait_for(lambda: len(got["all-pods"]) == 3, timeout=5, message="all pods seen")

        def versions(label: str) -> list[int]:
            return [ev.resource_version for ev in got[label]]

        assert versions("pods@n1") == [102, 103]
        assert versions("pods@n2") == [103]
        assert versions("pods@n3") == [104]
        assert versions("pods@n4") == []
        assert versions("all-pods") == [102, 103, 104]
        assert versions("nodes") == [101]
    finally:
        cache.close()
        await asyncio.gather(*tasks)
    assert cache.watcher_count == 0
    assert cache._index == {}


async def test_a_watch_replays_exactly_the_kept_changes_after_its_version() -> None:
    """A watch from a version inside the window gets the later changes of its resource, in
    order, whatever else the window holds; from the newest version, none."""
    cache = WatchCache(capacity=50, start=0)
    for rv in range(1, 41):
        publish(cache, rv, "pods" if rv % 2 else "leases", f"o{rv}", "n1")

    async def replay(since: int) -> list[int]:
        got: list[int] = []

        async def follow() -> None:
            async for ev in cache.watch("pods", since=since, node_name="n1"):
                got.append(ev.resource_version)

        task = asyncio.create_task(follow())
        await wait_for(lambda: cache.watcher_count == 1, timeout=5, message="watching")
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return got

    assert await replay(30) == [31, 33, 35, 37, 39]
    assert await replay(0) == list(range(1, 41, 2))
    assert await replay(40) == []
    cache.close()


async def test_watchers_of_one_change_send_the_same_bytes_encoded_once() -> None:
    """An agent's pod watch and an all-pods watch get one change: both events' lines are the
    same bytes object, encoded once; a watcher that asks for the object gets its own copy."""
    cache = WatchCache(capacity=100, start=0)
    got: dict[str, list[WatchEvent]] = {"agent": [], "all": []}

    async def follow(label: str, node: str | None) -> None:
        async for ev in cache.watch("pods", since=0, node_name=node):
            got[label].append(ev)

    tasks = [
        asyncio.create_task(follow("agent", "n1")),
        asyncio.create_task(follow("all", None)),
    ]
    await wait_for(lambda: cache.watcher_count == 2, timeout=5, message="both watching")
    try:
        publish(cache, 1, "pods", "p", "n1")
        await wait_for(
            lambda: len(got["agent"]) == len(got["all"]) == 1, timeout=5, message="both got it"
        )
    finally:
        cache.close()
        await asyncio.gather(*tasks)
    agent, everyone = got["agent"][0], got["all"][0]
    assert agent.shared is not None
    assert agent.shared is everyone.shared
    assert agent.line() is everyone.line()
    assert agent.line() == b'{"type":"MODIFIED","object":{"metadata":{"name":"p"}}}\n'
    assert agent.shared.encodes == 1
    assert agent.object == everyone.object == {"metadata": {"name": "p"}}
    assert agent.object is not everyone.object
