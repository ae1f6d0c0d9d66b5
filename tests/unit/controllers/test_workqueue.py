"""WorkQueue (dedup, one worker per key, delayed and rate-limited requeue) and the Informer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import Gone
from nodeagent.server.controllers.workqueue import Informer, RateLimit, WorkQueue
from nodeagent.server.store.protocol import WatchEvent


async def test_waiting_key_is_queued_once() -> None:
    """Adding a key twice before it is taken hands it out once."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert [await queue.get(), await queue.get()] == ["a", "b"]


async def test_key_added_while_processing_comes_back_after_done() -> None:
    """A key re-added while a worker holds it is handed out again only after done()."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.done(key)
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_add_after_and_rate_limit() -> None:
    """add_after delivers later; rate-limited delays grow per key and forget() resets them."""
    queue: WorkQueue[str] = WorkQueue(rate_limit=RateLimit(base=0.001, max=0.01))
    queue.add_after("later", 0.01)
    assert len(queue) == 0
    assert await asyncio.wait_for(queue.get(), 1) == "later"
    limit = RateLimit(base=1.0, max=8.0)
    assert [limit.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    queue.add_rate_limited("x")
    assert await asyncio.wait_for(queue.get(), 1) == "x"
    queue.forget("x")
    queue.shutdown()


class FakeRegistry:
    """Lists once, then raises Gone on the first watch, then serves one event and blocks."""

    def __init__(self) -> None:
        self.lists = 0
        self.watches = 0
        self.items: list[Obj] = [{"metadata": {"name": "a", "namespace": "ns"}}]

    async def list(self, resource: str, **_: Any) -> tuple[list[Obj], int]:
        self.lists += 1
        return list(self.items), 10 * self.lists

    def watch(
        self, resource: str, *, resource_version: int | None = None, **_: Any
    ) -> AsyncIterator[WatchEvent]:
        self.watches += 1
        return self._events(self.watches)

    async def _events(self, n: int) -> AsyncIterator[WatchEvent]:
        if n == 1:
            self.items.append({"metadata": {"name": "b", "namespace": "ns"}})
            raise Gone("too old")
        obj = {"metadata": {"name": "a", "namespace": "ns"}}
        yield WatchEvent(type="DELETED", resource="things", object=obj, resource_version=30)
        await asyncio.Event().wait()


async def test_informer_relists_on_gone_and_applies_events() -> None:
    """The informer relists after Gone (adding what changed) and applies watch events."""
    registry = FakeRegistry()
    seen: list[tuple[str | None, str | None]] = []
    informer = Informer(registry=registry, resource="things")  # type: ignore[arg-type]
    informer.add_handler(
        lambda old, new: seen.append(
            (
                (old or {}).get("metadata", {}).get("name"),
                (new or {}).get("metadata", {}).get("name"),
            )
        )
    )
    task = asyncio.create_task(informer.run())
    try:
        for _ in range(200):
            if informer.resource_version == 30:
                break
            await asyncio.sleep(0.005)
        assert registry.lists == 2
        assert informer.get("ns", "a") is None
        assert informer.get("ns", "b") is not None
        assert (None, "b") in seen
        assert ("a", None) in seen
    finally:
        task.cancel()
