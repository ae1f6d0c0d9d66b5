"""A status write is judged as kube-apiserver's status strategies judge it: on its status, not
on a spec stored before today's rules (ValidatePodStatusUpdate does not look at the spec)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import Invalid
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.sqlite import SqliteStore


@pytest.fixture
async def store_and_registry(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, StoreRegistry]]:
    store = await SqliteStore.open(tmp_path / "s.db")
    registry = StoreRegistry(store)
    await registry.ensure_namespaces()
    try:
        yield store, registry
    finally:
        await store.close()


def pod_stored_before_a_rule() -> Obj:
    """A pod as an older server could have stored it: its container name breaks a rule
    (DNS-1123 label) that today's validation enforces."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "old", "namespace": "default", "uid": "u-old"},
        "spec": {"nodeName": "n1", "containers": [{"name": "Old_Name", "image": "img:1"}]},
    }


async def test_a_status_write_is_taken_over_a_spec_that_predates_a_rule(
    store_and_registry: tuple[SqliteStore, StoreRegistry],
) -> None:
    store, registry = store_and_registry
    await store.create("pods", pod_stored_before_a_rule())
    pod = await registry.get("pods", "default", "old")
    pod["status"] = {"phase": "Running"}
    written = await registry.update("pods", pod, subresource="status")
    assert written["status"] == {"phase": "Running"}
    assert (await registry.get("pods", "default", "old"))["status"]["phase"] == "Running"

    # a write of the pod itself is still judged whole: the old spec is refused there
    pod = await registry.get("pods", "default", "old")
    pod["metadata"]["labels"] = {"a": "b"}
    with pytest.raises(Invalid) as refused:
        await registry.update("pods", pod)
    assert "spec.containers[0].name" in refused.value.message
