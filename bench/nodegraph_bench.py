"""The node authorizer's graph for ConfigMaps and Secrets, read per request: what a node's
`GET configmaps/NAME` costs on top of the read itself.

Figures: the decision (list the node's pods through the store's spec.nodeName index, then
nodegraph.related over them) with `per_node` pods on the asking node among `pods` in all;
baseline: the registry get of the ConfigMap that the request then serves.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.report import Figure
from nodeagent.server import nodegraph
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.sqlite import SqliteStore


def _pod(i: int, nodes: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"daemon-{i}", "namespace": "default"},
        "spec": {
            "nodeName": f"node-{i % nodes}",
            "containers": [
                {
                    "name": "main",
                    "image": "localhost/busybox:1",
                    "envFrom": [{"secretRef": {"name": f"env-{i}"}}],
                }
            ],
            "volumes": [{"name": "conf", "configMap": {"name": f"conf-{i}"}}],
        },
    }


async def _measure(path: Path, pods: int, per_node: int, repeats: int) -> list[Figure]:
    store = await SqliteStore.open(path)
    registry = StoreRegistry(store)
    await registry.ensure_namespaces()
    nodes = max(1, pods // per_node)
    for i in range(pods):
        await registry.create("pods", _pod(i, nodes))
    last = pods - nodes  # a pod of node-0 near the end of its list: the scan's worst case
    await registry.create(
        "configmaps", {"metadata": {"name": f"conf-{last}", "namespace": "default"}}
    )
    decisions, gets = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bound, _ = await registry.list(
            "pods", namespace="default", field_selector="spec.nodeName=node-0"
        )
        allowed = nodegraph.related(
            bound, node="node-0", resource="configmaps", namespace="default", name=f"conf-{last}"
        )
        decisions.append((time.perf_counter() - t0) * 1000)
        assert allowed
        t0 = time.perf_counter()
        await registry.get("configmaps", "default", f"conf-{last}")
        gets.append((time.perf_counter() - t0) * 1000)
    await store.close()
    return [
        Figure(
            name=f"nodegraph.decision_{per_node}_pods_on_node_of_{pods}",
            unit="ms",
            samples=tuple(decisions),
            baseline_name="the configmap get it authorizes",
            baseline=tuple(gets),
            target="a fraction of a millisecond for a node's few dozen daemon pods",
        )
    ]


def run(*, pods: int, per_node: tuple[int, ...], repeats: int) -> list[Figure]:
    figures: list[Figure] = []
    for count in per_node:
        with tempfile.TemporaryDirectory() as tmp:
            figures += asyncio.run(_measure(Path(tmp) / "store.db", pods, count, repeats))
    return figures
