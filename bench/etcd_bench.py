"""The etcd store next to the SQLite store, measured in the same run on the same machine.

Figures: one Pod create through the Registry (an etcd transaction, then the server's own watch
delivering it), the status write rate with every pod written at once, how long a second
server on the same etcd takes to see a write (its watch event), and opening a store on the
objects (the initial list). Each has the SQLite store's figure as its baseline (the second
server's, the create on the first). Starts Debian's etcd in a temporary directory.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.report import Figure
from bench.store_bench import status_write_rates
from nodeagent.api.bodies import Obj
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.etcd import EtcdStore
from nodeagent.server.store.protocol import Store
from nodeagent.server.store.sqlite import SqliteStore
from tests.support.etcd import EtcdProcess


def _pod(i: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"daemon-{i}", "namespace": "default", "labels": {"app": "d"}},
        "spec": {
            "nodeName": f"node-{i % 100}",
            "containers": [{"name": "main", "image": "localhost/busybox:1"}],
        },
    }


async def _writes(store: Store, pods: int, rounds: int) -> tuple[list[float], list[float]]:
    """(ms per create, writes/s per round of every pod's status at once)."""
    registry = StoreRegistry(store)
    await registry.ensure_namespaces()
    creates = []
    for i in range(pods):
        t0 = time.perf_counter()
        await registry.create("pods", _pod(i))
        creates.append((time.perf_counter() - t0) * 1000)
    rates = await status_write_rates(registry, pods=pods, rounds=rounds)
    return creates, rates


async def _seen_elsewhere(url: str, writes: int) -> list[float]:
    """ms from a create through one store until a second store's watch delivers it."""
    first = await EtcdStore.open([url])
    second = await EtcdStore.open([url])
    out = []
    try:
        events = aiter(second.watch("pods", since=second.resource_version))
        for i in range(writes):
            t0 = time.perf_counter()
            await first.create("pods", {"metadata": {"name": f"x-{i}", "namespace": "default"}})
            await anext(events)
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        await first.close()
        await second.close()
    return out


async def _opens(
    open_store: Callable[[], Awaitable[EtcdStore | SqliteStore]], repeats: int
) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        store = await open_store()
        out.append((time.perf_counter() - t0) * 1000)
        await store.close()
    return out


async def _measure(base: Path, etcd: EtcdProcess, pods: int, rounds: int) -> list[Figure]:
    sqlite_path = base / "store.db"
    sqlite = await SqliteStore.open(sqlite_path)
    try:
        sqlite_creates, sqlite_rates = await _writes(sqlite, pods, rounds)
    finally:
        await sqlite.close()
    store = await EtcdStore.open([etcd.url], compaction_interval=0)
    try:
        creates, rates = await _writes(store, pods, rounds)
    finally:
        await store.close()
    seen = await _seen_elsewhere(etcd.url, min(pods, 200))
    etcd_opens = await _opens(lambda: EtcdStore.open([etcd.url]), rounds)
    sqlite_opens = await _opens(lambda: SqliteStore.open(sqlite_path), rounds)
    return [
        Figure(
            name="etcd.create_pod",
            unit="ms",
            samples=tuple(creates),
            baseline_name="sqlite store create",
            baseline=tuple(sqlite_creates),
        ),
        Figure(
            name=f"etcd.status_writes_per_s_{pods}_at_once",
            unit="writes/s",
            samples=tuple(rates),
            baseline_name="sqlite store, same writes",
            baseline=tuple(sqlite_rates),
        ),
        Figure(
            name="etcd.create_seen_by_second_server",
            unit="ms",
            samples=tuple(seen),
            baseline_name="etcd create on the first server",
            baseline=tuple(creates),
        ),
        Figure(
            name=f"etcd.open_on_{pods}_pods",
            unit="ms",
            samples=tuple(etcd_opens),
            baseline_name="sqlite store open",
            baseline=tuple(sqlite_opens),
        ),
    ]


def run(*, pods: int = 2000, rounds: int = 5) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        etcd = EtcdProcess.start(Path(tmp) / "etcd")
        try:
            return asyncio.run(_measure(Path(tmp), etcd, pods, rounds))
        finally:
            etcd.stop()
