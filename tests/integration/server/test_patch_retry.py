"""Patches racing other writes: retried on the re-read object, as kube-apiserver does, unless
the patch itself carries a resourceVersion."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.api.errors import Conflict
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.sqlite import SqliteStore

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[StoreRegistry]:
    store = await SqliteStore.open(tmp_path / "s.db")
    reg = StoreRegistry(store)
    await reg.ensure_namespaces()
    try:
        yield reg
    finally:
        await store.close()


def daemonset(image: str) -> dict[str, object]:
    labels = {"app": "web"}
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


async def test_patches_racing_status_writes_never_conflict(registry: StoreRegistry) -> None:
    await registry.create("daemonsets", daemonset("img:0"))

    async def write_status(i: int) -> None:
        # the controller's way: read, change status, write back with the version it read
        while True:
            ds = await registry.get("daemonsets", "default", "web")
            ds["status"]["observedGeneration"] = i
            try:
                await registry.update("daemonsets", ds, subresource="status")
                return
            except Conflict:
                continue

    async def set_image(i: int) -> None:
        body = {
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": f"img:{i}"}]}}}
        }
        await registry.patch("daemonsets", "default", "web", json.dumps(body).encode(), STRATEGIC)

    async def label(i: int) -> None:
        body = {"metadata": {"labels": {f"l{i}": "x"}}}
        await registry.patch("daemonsets", "default", "web", json.dumps(body).encode(), MERGE)

    async def write_beside(i: int) -> None:
        # a write that does not go through update/patch (the delete path writes this way)
        ds = await registry.store.get("daemonsets", "default", "web")
        ds["metadata"].setdefault("annotations", {})[f"a{i}"] = "x"
        ds["metadata"].pop("resourceVersion")
        await registry.store.update("daemonsets", ds)

    writers = (write_status, set_image, label, write_beside)
    tasks = [f(i) for i in range(1, 13) for f in writers]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [(i, repr(r)[:60]) for i, r in enumerate(results) if isinstance(r, BaseException)] == []
    ds = await registry.get("daemonsets", "default", "web")
    assert all(ds["metadata"]["labels"][f"l{i}"] == "x" for i in range(1, 13))


async def test_a_patch_carrying_a_stale_version_still_conflicts(registry: StoreRegistry) -> None:
    created = await registry.create("daemonsets", daemonset("img:0"))
    stale = created["metadata"]["resourceVersion"]
    await registry.patch(
        "daemonsets", "default", "web", b'{"metadata":{"labels":{"a":"b"}}}', MERGE
    )
    body = {"metadata": {"resourceVersion": stale, "labels": {"a": "c"}}}
    with pytest.raises(Conflict):
        await registry.patch("daemonsets", "default", "web", json.dumps(body).encode(), MERGE)
    ds = await registry.get("daemonsets", "default", "web")
    assert ds["metadata"]["labels"]["a"] == "b"
