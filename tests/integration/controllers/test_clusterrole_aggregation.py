"""The clusterrole-aggregation controller over the real registry: an aggregated ClusterRole
takes the rules of the roles its selectors match, and a write conflict never spins the server.

The conflict case is the one two servers over one etcd met: the registry answered 409 at once
(no I/O to wait on) while the controller's informer still held the older object; retrying with
no pause never let the informer run, and the server stopped answering requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import Conflict
from nodeagent.server.controllers.clusterroleaggregation import ClusterRoleAggregationController
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.registry_protocol import Admit, Subresource
from nodeagent.server.store.sqlite import SqliteStore
from tests.support.wait import wait_for

SPIN_LIMIT = 100_000  # conflicts answered before the fake gives up: old code spun through all


class ConflictingRegistry(StoreRegistry):
    """The real registry, answering ClusterRole updates with an immediate 409 until another
    task (the ticker) has run a few times: only a controller that yields gets past it."""

    ticks = 0
    conflicts = 0

    async def update(
        self,
        resource: str,
        obj: Obj,
        *,
        subresource: Subresource = "",
        admit: Admit | None = None,
    ) -> Obj:
        if resource == "clusterroles" and self.ticks < 3 and self.conflicts < SPIN_LIMIT:
            self.conflicts += 1
            raise Conflict("the object has been modified")
        return await super().update(resource, obj, subresource=subresource, admit=admit)


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[ConflictingRegistry]:
    store = await SqliteStore.open(tmp_path / "s.db")
    reg = ConflictingRegistry(store)
    await reg.ensure_namespaces()
    try:
        yield reg
    finally:
        await store.close()


READ_PODS: Obj = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}


def _role(name: str, *, labels: dict[str, str] | None = None, aggregate: bool = False) -> Obj:
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels or {}},
        "rules": []
        if aggregate
        else [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    if aggregate:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"team": "a"}}]}
    return role


async def test_conflicts_pause_so_the_server_keeps_running(registry: ConflictingRegistry) -> None:
    await registry.create("clusterroles", _role("team-a-reader", labels={"team": "a"}))
    await registry.create("clusterroles", _role("team-a", aggregate=True))

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.01)
            registry.ticks += 1

    controller = ClusterRoleAggregationController(registry)
    tasks = [asyncio.create_task(ticker()), asyncio.create_task(controller.run())]
    try:

        async def aggregated() -> bool:
            role = await registry.get("clusterroles", "", "team-a")
            return bool(role.get("rules"))

        await wait_for(aggregated, timeout=20, message="team-a takes team-a-reader's rules")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert registry.conflicts < 100, f"{registry.conflicts} immediate retries"
    role = await registry.get("clusterroles", "", "team-a")
    assert role["rules"] == [READ_PODS]
