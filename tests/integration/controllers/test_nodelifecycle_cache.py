"""The node-lifecycle controller decides from watch-fed caches of nodes and leases: it sees
every heartbeat, and lists each resource once, not the whole store on every pass."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.server.controllers.nodelifecycle import NodeLifecycleController
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.sqlite import SqliteStore
from tests.support.wait import wait_for

TIMEOUT = 20.0


class CountingRegistry(StoreRegistry):
    """The real registry, counting the lists each resource gets."""

    lists: Counter[str]

    async def list(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], int]:
        self.lists[resource] += 1
        return await super().list(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[CountingRegistry]:
    store = await SqliteStore.open(tmp_path / "s.db")
    reg = CountingRegistry(store)
    reg.lists = Counter()
    await reg.ensure_namespaces()
    try:
        yield reg
    finally:
        await store.close()


async def _report_ready(registry: StoreRegistry, name: str) -> None:
    """What an agent's node status write says: Ready True, heartbeat now."""
    node = await registry.get("nodes", "", name)
    stamp = format_time(time.time())
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }
    node["status"] = {"conditions": [ready]}
    await registry.update("nodes", node, subresource="status")


async def _ready_status(registry: StoreRegistry, name: str) -> str:
    node = await registry.get("nodes", "", name)
    ready = meta.get_condition(node.get("status") or {}, "Ready") or {}
    return str(ready.get("status"))


async def test_heartbeats_are_seen_through_the_caches_and_the_store_is_listed_once(
    registry: CountingRegistry,
) -> None:
    """A node that stops reporting goes Unknown, reports Ready again, stops again and goes
    Unknown again: every pass in between read the caches (one list of nodes, one of leases)."""
    await registry.create("nodes", {"metadata": {"name": "n1"}})
    await _report_ready(registry, "n1")
    controller = NodeLifecycleController(registry=registry, grace=0.3, period=0.05)
    task = asyncio.create_task(controller.run())
    try:

        async def status_is(want: str) -> bool:
            return await _ready_status(registry, "n1") == want

        await wait_for(lambda: status_is("Unknown"), timeout=TIMEOUT, message="first Unknown")
        await _report_ready(registry, "n1")
        await wait_for(lambda: status_is("Unknown"), timeout=TIMEOUT, message="Unknown again")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert registry.lists["nodes"] == 1
    assert registry.lists["leases"] == 1
