"""psutil measurements of this host, on a real tmpfs: the figures conditions are made from."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeagent.agent.conditions import THRESHOLDS, PressureState, Signal, evaluate
from nodeagent.agent.stats import KUBELET_VERSION, measure


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


def fill(path: Path, mib: float) -> None:
    with open(path, "wb") as f:
        f.write(b"\0" * int(mib * 1024 * 1024))


def test_measure_reads_the_state_dirs_filesystem(small_tmpfs: Path) -> None:
    """nodefs is the state dir's filesystem: its size, free bytes and inodes, and its mount."""
    m = measure(
        node_name="node-a",
        state_dir=str(small_tmpfs),
        imagefs_path=str(small_tmpfs),
        server_url=None,
        runtime_info={"name": "podman", "version": "4.3.1"},
    )
    nodefs = m.observations[Signal.NODEFS_AVAILABLE]
    assert nodefs.capacity == 8 * 1024 * 1024
    assert nodefs.available > 7 * 1024 * 1024
    assert nodefs.where == f"{small_tmpfs} (tmpfs)"
    assert m.observations[Signal.NODEFS_INODES_FREE].capacity > 0
    assert Signal.IMAGEFS_AVAILABLE in m.observations
    memory = m.observations[Signal.MEMORY_AVAILABLE]
    assert 0 < memory.available <= memory.capacity
    pids = m.observations[Signal.PID_AVAILABLE]
    assert 0 < pids.available < pids.capacity
    assert m.facts.node_info["containerRuntimeVersion"] == "podman://4.3.1"
    assert m.facts.node_info["kubeletVersion"] == KUBELET_VERSION
    assert m.facts.capacity["pods"] == "110"
    assert ("Hostname", "node-a") in m.facts.addresses


def test_a_full_tmpfs_raises_disk_pressure_and_clears(small_tmpfs: Path) -> None:
    """Filling the nodefs past 90% turns DiskPressure True; emptying it clears after the period."""

    def disk(previous: PressureState, now: float) -> tuple[PressureState, str, str]:
        m = measure(
            node_name="node-a",
            state_dir=str(small_tmpfs),
            imagefs_path=None,
            server_url=None,
            runtime_info={},
        )
        state, values = evaluate(
            thresholds=THRESHOLDS,
            observations=m.observations,
            previous=previous,
            transition_period=2.0,
            now=now,
        )
        (cond,) = [v for v in values if v.type == "DiskPressure"]
        return state, cond.status, cond.message

    state, status, _ = disk(PressureState(), 0.0)
    assert status == "False"
    fill(small_tmpfs / "big", 7.6)
    state, status, message = disk(state, 1.0)
    assert status == "True"
    assert message.startswith(f"nodefs.available on {small_tmpfs} (tmpfs) is ")
    assert message.endswith("(< 10%)")
    (small_tmpfs / "big").unlink()
    state, status, _ = disk(state, 2.0)
    assert status == "True"  # within the transition period
    state, status, _ = disk(state, 3.5)
    assert status == "False"


def test_internal_ip_is_the_route_to_the_server() -> None:
    """The InternalIP is the source address used to reach the server's host."""
    m = measure(
        node_name="node-a",
        state_dir="/",
        imagefs_path=None,
        server_url="https://127.0.0.1:6443",
        runtime_info={},
    )
    assert ("InternalIP", "127.0.0.1") in m.facts.addresses
