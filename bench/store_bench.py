"""The server's write and read path: registry creates, lists and a node's pod list.

Figures: one Pod create through the Registry (defaults, validation, CAS, SQLite commit in
the writer thread); listing every pod; listing one node's pods through the index; the write
rate when every pod's status is written at once (as a fleet's agents do); one heartbeat (a
Lease change per node) published while every node holds its pod watch. Separately
(`status_patch_cpu()`): the registry's CPU per node status patch, in process. Baseline for the
create: a bare SQLite INSERT + COMMIT in WAL/NORMAL mode on the same disk, the floor of a
durable write; for the rate: those bare commits one after another, as writes per second.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.report import Figure
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.sqlite import SqliteStore
from nodeagent.server.store.watchcache import WatchCache

MERGE = "application/merge-patch+json"


def _pod(i: int, nodes: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"daemon-{i}", "namespace": "default", "labels": {"app": "d"}},
        "spec": {
            "nodeName": f"node-{i % nodes}",
            "containers": [{"name": "main", "image": "localhost/busybox:1"}],
        },
    }


def _bare_inserts(path: Path, n: int) -> list[float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (f"k{i}", "x" * 600))
        conn.execute("COMMIT")
        out.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return out


async def status_write_rates(registry: StoreRegistry, *, pods: int, rounds: int) -> list[float]:
    """Status writes per second, all `pods` pods (daemon-0...) written at once, per round."""
    rates = []
    for round_ in range(rounds):
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                registry.update(
                    "pods",
                    {
                        "metadata": {"name": f"daemon-{i}", "namespace": "default"},
                        "status": {"phase": "Running", "message": f"round {round_}"},
                    },
                    subresource="status",
                )
                for i in range(pods)
            )
        )
        rates.append(pods / (time.perf_counter() - t0))
    return rates


async def _measure(path: Path, pods: int, nodes: int, repeats: int) -> list[Figure]:
    store = await SqliteStore.open(path)
    registry = StoreRegistry(store)
    await registry.ensure_namespaces()
    creates = []
    for i in range(pods):
        t0 = time.perf_counter()
        await registry.create("pods", _pod(i, nodes))
        creates.append((time.perf_counter() - t0) * 1000)
    lists, node_lists = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        await registry.list("pods")
        lists.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        await registry.list("pods", field_selector="spec.nodeName=node-0")
        node_lists.append((time.perf_counter() - t0) * 1000)
    rates = await status_write_rates(registry, pods=pods, rounds=min(repeats, 5))
    await store.close()
    bare = _bare_inserts(path.with_name("bare.db"), pods)
    return [
        Figure(
            name="store.create_pod",
            unit="ms",
            samples=tuple(creates),
            baseline_name="bare sqlite insert+commit",
            baseline=tuple(bare),
        ),
        Figure(
            name=f"store.status_writes_per_s_{pods}_at_once",
            unit="writes/s",
            samples=tuple(rates),
            baseline_name="bare sqlite commits one after another, per s",
            baseline=tuple(1000 / ms for ms in bare if ms > 0),
            target="2,000 writes/s (10,000 agents: node status and lease every 10 s)",
        ),
        Figure(name=f"store.list_{pods}_pods", unit="ms", samples=tuple(lists)),
        Figure(
            name=f"store.list_one_node_of_{nodes}",
            unit="ms",
            samples=tuple(node_lists),
            target="independent of the fleet's pod count",
        ),
    ]


async def _heartbeat(watchers: int, repeats: int) -> list[float]:
    """ms to publish one Lease change per node while every node holds its pod watch."""
    cache = WatchCache(capacity=10_000, start=0)

    async def follow(node: str) -> None:
        async for _ev in cache.watch("pods", since=0, node_name=node):
            pass

    tasks = [asyncio.create_task(follow(f"node-{i}")) for i in range(watchers)]
    while cache.watcher_count < watchers:
        await asyncio.sleep(0)
    out, rv = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _i in range(watchers):
            rv += 1
            cache.publish(
                resource="leases",
                namespace="kube-node-lease",
                type="MODIFIED",
                resource_version=rv,
                text="{}",
                prev_text="{}",
            )
        out.append((time.perf_counter() - t0) * 1000)
    cache.close()
    await asyncio.gather(*tasks)
    return out


_NODE_STATUS = {
    "capacity": {"cpu": "2", "memory": "2Gi", "pods": "110"},
    "nodeInfo": {"kubeletVersion": "v1.37.0"},
}


async def _status_patch_cpu(path: Path, nodes: int, rounds: int) -> list[float]:
    """CPU (this process's, us) per node status merge patch through the registry: one round
    patches every node at once; one figure per round."""
    store = await SqliteStore.open(path)
    registry = StoreRegistry(store)
    for i in range(nodes):
        node = {"metadata": {"name": f"n{i}", "labels": {"kubernetes.io/hostname": f"n{i}"}}}
        await registry.create("nodes", {**node, "status": _NODE_STATUS})
    out = []
    for _ in range(rounds):
        beat = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cond = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
        body = json.dumps({"status": {"conditions": [{**cond, "lastHeartbeatTime": beat}]}})
        c0 = time.process_time()
        await asyncio.gather(
            *(
                registry.patch("nodes", "", f"n{i}", body.encode(), MERGE, subresource="status")
                for i in range(nodes)
            )
        )
        out.append(1e6 * (time.process_time() - c0) / nodes)
    await store.close()
    return out


def status_patch_cpu(*, nodes: int = 100, rounds: int = 30) -> list[Figure]:
    """The registry's own CPU per node status patch (defaults, validation, copies, JSON,
    the commit's share), in process: other load on the machine barely moves it."""
    with tempfile.TemporaryDirectory() as tmp:
        samples = asyncio.run(_status_patch_cpu(Path(tmp) / "store.db", nodes, rounds))
    return [Figure(name="store.cpu_per_node_status_patch", unit="us", samples=tuple(samples))]


def run(*, pods: int = 2000, nodes: int = 100, repeats: int = 20) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(_measure(Path(tmp) / "store.db", pods, nodes, repeats))
    heartbeat = asyncio.run(_heartbeat(pods, min(repeats, 5)))
    return [
        *figures,
        Figure(
            name=f"store.heartbeat_of_{pods}_nodes_with_{pods}_pod_watches",
            unit="ms",
            samples=tuple(heartbeat),
            target="independent of the number of pod watches",
        ),
    ]
