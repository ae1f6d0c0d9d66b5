"""An agent's pod watch (`fieldSelector=spec.nodeName=NAME`) through the Registry on a real
SQLite store: its events are matched from the pods' nodes before and after each change,
without decoding a pod, and come out as the decoding path gives them (a binding is ADDED)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodeagent.api import jsontext
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.sqlite import SqliteStore


def pod(name: str, node: str = "") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node}}


async def _lines(registry: StoreRegistry, since: int, selector: str, count: int) -> list[bytes]:
    out: list[bytes] = []
    async for ev in registry.watch("pods", resource_version=since, field_selector=selector):
        out.append(ev.line())
        if len(out) == count:
            break
    return out


async def test_a_node_watch_is_matched_without_decoding_a_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SqliteStore.open(tmp_path / "s.db")
    registry = StoreRegistry(store)
    try:
        since = store.resource_version
        p = await store.create("pods", pod("p"))  # not scheduled: no node's watch sees it
        p["spec"]["nodeName"] = "n1"  # bound to n1: ADDED for n1's watch
        p = await store.update("pods", p)
        p["status"] = {"phase": "Running"}
        p = await store.update("pods", p)
        await store.create("pods", pod("q", "n2"))
        await store.delete("pods", "default", "p")

        decoded: list[object] = []
        loads = jsontext.loads

        def counting(data: str | bytes) -> object:
            decoded.append(data)
            return loads(data)

        monkeypatch.setattr(jsontext, "loads", counting)
        fast = await _lines(registry, since, "spec.nodeName=n1", 3)
        assert decoded == []
        # the same selector with a second term takes the decoding path: the same lines
        slow = await _lines(registry, since, "spec.nodeName=n1,metadata.namespace=default", 3)
        assert decoded != []
    finally:
        await store.close()
    assert fast == slow
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in map(json.loads, fast)]
    assert seen == [("ADDED", "p"), ("MODIFIED", "p"), ("DELETED", "p")]
