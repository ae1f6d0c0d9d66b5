"""Figure 5: pressure onset on the host -> the Node's condition True on the server.

A real server (its own process) and the agent's real server sync (node status at its default
1 s measuring tick) in this process. Memory pressure: a memory.available threshold set 1 GiB
below what is available now, then 2 GiB touched; disk pressure: the state dir on an 8 MiB
tmpfs (nodefs), filled to 95 %. The clock starts when the allocation or the write is complete
and stops when an admin client (polling every 10 ms) sees the condition True. Baseline, same
run: one node status write (GET + PUT /status) by a bare client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import MIB, ms_since, poll
from bench.report import Figure
from nodeagent import log as logsetup
from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.conditions import Signal
from nodeagent.agent.serversync import run_server_sync
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.sources.update import SourceUpdate
from nodeagent.agent.state import AgentState
from nodeagent.agent.stats import measure
from tests.support.server import ServerProcess, start_server_process

NODE = "bench-pressure"


def _available(signal: Signal, state_dir: str = "/") -> int:
    m = measure(
        node_name="x", state_dir=state_dir, imagefs_path=None, server_url=None, runtime_info={}
    )
    return int(m.observations[signal].available)


@contextlib.asynccontextmanager
async def _agent(settings: AgentSettings) -> AsyncIterator[None]:
    state = AgentState(node_name=settings.node_name, runtime_error=None)
    state.runtime_info = {"name": "podman", "version": "4.3.1"}
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = asyncio.create_task(run_server_sync(settings=settings, state=state, queue=queue))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _condition_is(admin: ApiClient, ctype: str, status: str) -> bool:
    try:
        node = await admin.get(resource_path("nodes", name=NODE))
    except Exception:  # not registered yet
        return False
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == ctype and c.get("status") == status for c in conds)


async def _status_write(admin: ApiClient) -> float:
    t0 = time.perf_counter()
    node = await admin.get(resource_path("nodes", name=NODE))
    await admin.update(resource_path("nodes", name=NODE, subresource="status"), node)
    return ms_since(t0)


async def _memory(admin: ApiClient, settings: AgentSettings, runs: int) -> list[float]:
    # Margins wide enough that other processes on a shared machine do not cross them.
    threshold = _available(Signal.MEMORY_AVAILABLE) - 1024 * MIB
    settings = replace(settings, eviction_hard={"memory.available": str(threshold)})
    samples: list[float] = []
    is_ = partial(_condition_is, admin, "MemoryPressure")
    async with _agent(settings):
        for _ in range(runs):
            await poll(partial(is_, "False"), timeout=30, what="MemoryPressure False")
            hog = b"\x01" * (2048 * MIB)
            t0 = time.perf_counter()
            await poll(partial(is_, "True"), timeout=30, what="MemoryPressure True")
            samples.append(ms_since(t0))
            del hog
    return samples


async def _disk(admin: ApiClient, settings: AgentSettings, nodefs: Path, runs: int) -> list[float]:
    # The same host with its state dir moved: its node password goes along, or the server
    # would refuse the name to what looks like a second host (docs/security.md).
    shutil.copy2(Path(settings.state_dir) / "node-password", nodefs / "node-password")
    settings = replace(settings, state_dir=str(nodefs))
    samples: list[float] = []
    is_ = partial(_condition_is, admin, "DiskPressure")
    async with _agent(settings):
        for _ in range(runs):
            await poll(partial(is_, "False"), timeout=30, what="DiskPressure False")
            fill = nodefs / "fill"
            fill.write_bytes(b"\0" * int(7.6 * MIB))
            t0 = time.perf_counter()
            await poll(partial(is_, "True"), timeout=30, what="DiskPressure True")
            samples.append(ms_since(t0))
            fill.unlink()
    return samples


async def _measure(srv: ServerProcess, base: Path, runs: int) -> dict[str, list[float]]:
    token_file = base / "join-secret"
    token_file.write_text(srv.join_secret)
    (base / "state").mkdir()
    settings = AgentSettings(
        node_name=NODE,
        state_dir=str(base / "state"),
        server_url=srv.url,
        token_file=str(token_file),
        ca_file=str(srv.ca_file),
        pressure_transition_period=0.5,  # so each run starts from False again quickly
    )
    admin = ApiClient(server_url=srv.url, token=srv.admin_token, ca_file=str(srv.ca_file))
    out: dict[str, Any] = {"memory": await _memory(admin, settings, runs)}
    out["write"] = [await _status_write(admin) for _ in range(max(runs, 5))]
    if os.geteuid() == 0 and shutil.which("mount"):
        nodefs = base / "nodefs"
        nodefs.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(nodefs)], check=True)
        try:
            out["disk"] = await _disk(admin, settings, nodefs, runs)
        finally:
            subprocess.run(["umount", "-l", str(nodefs)], check=False)
    await admin.close()
    return out


def run(*, runs: int = 5) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-pressure-", ignore_cleanup_errors=True) as tmp:
        base = Path(tmp)
        logsetup.configure(level="warning")
        srv = start_server_process(base / "server")
        try:
            out = asyncio.run(_measure(srv, base, runs))
        finally:
            srv.stop()
    base_name = "one node status write (GET + PUT /status)"
    return [
        Figure(
            name=f"pressure.{kind}_onset_to_condition_true",
            unit="ms",
            samples=tuple(out[kind]),
            baseline_name=base_name,
            baseline=tuple(out["write"]),
            target="at most 2 s",
        )
        for kind in ("memory", "disk")
        if kind in out
    ]
