"""Real pressure on this host turns the Node's conditions True on the server, then back False."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeagent.agent.apiclient import ApiClient
from nodeagent.agent.conditions import Signal
from nodeagent.agent.stats import measure
from tests.integration.agent_server.conftest import agent_settings, node_condition, running_sync
from tests.support.server import ServerInfo
from tests.support.wait import wait_for

MI = 1024 * 1024


def available(signal: Signal, state_dir: str = "/") -> int:
    m = measure(
        node_name="x", state_dir=state_dir, imagefs_path=None, server_url=None, runtime_info={}
    )
    return m.observations[signal].available


async def wait_status(admin: ApiClient, ctype: str, status: str) -> dict[str, str]:
    async def check() -> dict[str, str]:
        cond = await node_condition(admin, ctype)
        assert cond["status"] == status, cond
        return cond

    return await wait_for(check, timeout=20, message=f"{ctype} is {status}")


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs mounted in a temp dir (unmounted afterwards)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "nodefs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# MemAvailable on a shared machine moves by hundreds of MB between two samples (~640 MB was seen
# while other test runs started and stopped), so each side of the threshold keeps this much room.
MEMORY_MARGIN = 1536 * MI


async def test_memory_pressure(server: ServerInfo, admin: ApiClient, tmp_path: Path) -> None:
    """Taking memory below a threshold set under the current figure raises MemoryPressure.

    As Kubernetes' eviction e2e tests do, both figures come from what is free when they are
    needed: the threshold a margin under MemAvailable at start; the memory taken, each time the
    condition is checked, what brings MemAvailable a margin under the threshold again (memory
    others free meanwhile is made up for). MemAvailable never goes below start - 2 margins.
    """
    start = available(Signal.MEMORY_AVAILABLE)
    if start < 4 * MEMORY_MARGIN:
        pytest.skip(f"{start // MI} MiB available: too little to take memory safely")
    threshold = start - MEMORY_MARGIN
    settings = agent_settings(server, tmp_path, eviction_hard={"memory.available": str(threshold)})
    hog: list[bytes] = []

    async def pressure_after_taking() -> dict[str, str]:
        short = available(Signal.MEMORY_AVAILABLE) - (threshold - MEMORY_MARGIN)
        if short > MEMORY_MARGIN // 4:
            hog.append(b"\x01" * short)  # touched pages: MemAvailable really drops
        cond = await node_condition(admin, "MemoryPressure")
        assert cond["status"] == "True", cond
        return cond

    async with running_sync(settings):
        await wait_status(admin, "MemoryPressure", "False")
        cond = await wait_for(
            pressure_after_taking, timeout=30, interval=0.5, message="MemoryPressure is True"
        )
        assert cond["reason"] == "KubeletHasInsufficientMemory"
        assert cond["message"].startswith("memory.available is ")
        hog.clear()
        cond = await wait_status(admin, "MemoryPressure", "False")
        assert cond["reason"] == "KubeletHasSufficientMemory"


async def test_disk_pressure_on_a_full_nodefs(
    server: ServerInfo, admin: ApiClient, tmp_path: Path, small_tmpfs: Path
) -> None:
    """Filling the state dir's filesystem past 90% raises DiskPressure naming the mount."""
    settings = agent_settings(server, tmp_path, state_dir=str(small_tmpfs))
    async with running_sync(settings):
        await wait_status(admin, "DiskPressure", "False")
        big = small_tmpfs / "fill"
        big.write_bytes(b"\0" * int(7.6 * MI))
        cond = await wait_status(admin, "DiskPressure", "True")
        assert cond["reason"] == "KubeletHasDiskPressure"
        assert cond["message"].startswith(f"nodefs.available on {small_tmpfs} (tmpfs) is ")
        big.unlink()
        await wait_status(admin, "DiskPressure", "False")


async def test_pid_pressure(server: ServerInfo, admin: ApiClient, tmp_path: Path) -> None:
    """Starting processes until pid.available is under the threshold raises PIDPressure."""
    threshold = available(Signal.PID_AVAILABLE) - 250
    settings = agent_settings(server, tmp_path, eviction_hard={"pid.available": str(threshold)})
    async with running_sync(settings):
        await wait_status(admin, "PIDPressure", "False")
        sleepers = [subprocess.Popen(["sleep", "120"]) for _ in range(500)]
        try:
            cond = await wait_status(admin, "PIDPressure", "True")
            assert cond["reason"] == "KubeletHasInsufficientPID"
            assert cond["message"].startswith("pid.available is ")
        finally:
            for p in sleepers:
                p.kill()
            for p in sleepers:
                p.wait()
        await wait_status(admin, "PIDPressure", "False")
