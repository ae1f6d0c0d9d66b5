"""Full disruption through the real registry: every node stops reporting, the NoExecute
unreachable taints come off all of them; one reports again, the others get theirs back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.api.errors import Conflict
from nodeagent.api.timefmt import format_time
from nodeagent.server.controllers.nodelifecycle import NodeLifecycleController
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.sqlite import SqliteStore
from tests.support.wait import wait_for

TIMEOUT = 20.0
NAMES = ("n1", "n2", "n3")
UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[StoreRegistry]:
    store = await SqliteStore.open(tmp_path / "s.db")
    reg = StoreRegistry(store)
    await reg.ensure_namespaces()
    try:
        yield reg
    finally:
        await store.close()


async def _report_ready(registry: StoreRegistry, name: str) -> None:
    node = await registry.get("nodes", "", name)
    stamp = format_time(time.time())
    node["status"] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }
        ]
    }
    await registry.update("nodes", node, subresource="status")


async def _taints(registry: StoreRegistry, name: str) -> set[tuple[str, str]]:
    node = await registry.get("nodes", "", name)
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


async def test_all_nodes_down_lifts_no_execute_taints_until_one_is_back(
    registry: StoreRegistry,
) -> None:
    for name in NAMES:
        await registry.create("nodes", {"metadata": {"name": name}})
        await _report_ready(registry, name)
    controller = NodeLifecycleController(registry=registry, grace=0.3, period=0.05)
    task = asyncio.create_task(controller.run())
    try:

        async def everywhere(want: set[tuple[str, str]], names: tuple[str, ...]) -> bool:
            return all([await _taints(registry, n) == want for n in names])

        # every node Unknown: full disruption, only the NoSchedule unreachable taint
        await wait_for(
            lambda: everywhere({(UNREACHABLE, "NoSchedule")}, NAMES),
            timeout=TIMEOUT,
            message="every node tainted unreachable:NoSchedule only",
        )

        # n1 reports again: out of full disruption; n2 and n3 get the NoExecute taint back
        async def heartbeats() -> None:
            while True:
                with contextlib.suppress(Conflict):  # the controller wrote meanwhile
                    await _report_ready(registry, "n1")
                await asyncio.sleep(0.05)

        beating = asyncio.create_task(heartbeats())
        await wait_for(
            lambda: everywhere(
                {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}, NAMES[1:]
            ),
            timeout=TIMEOUT,
            message="n2 and n3 tainted unreachable:NoExecute again",
        )
        assert await _taints(registry, "n1") == set()
        beating.cancel()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
