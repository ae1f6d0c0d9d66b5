"""The reporter's per-second measure reads only the signals: node facts and mounts are reused."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

from nodeagent.agent.conditions import Signal
from nodeagent.agent.hostaddr import internal_ip
from nodeagent.agent.stats import Measurement, measure


def test_a_tick_reuses_facts_and_the_mount_table(tmp_path: Path) -> None:
    """Given the facts and a mounts memo, measure returns those facts and names the device the
    memo holds, while the signals themselves are read afresh."""
    memo: dict[str, tuple[str, str]] = {}

    def look(**kw: Any) -> Measurement:
        return measure(
            node_name="n1",
            state_dir=str(tmp_path),
            imagefs_path=None,
            server_url=None,
            runtime_info={},
            mounts=memo,
            **kw,
        )

    full = look()
    assert str(tmp_path) in memo  # the lookup was kept
    memo[str(tmp_path)] = ("/", "remembered-device")
    tick = look(facts=full.facts)
    assert tick.facts is full.facts
    nodefs = tick.observations[Signal.NODEFS_AVAILABLE]
    assert nodefs.where == f"{tmp_path} (remembered-device)"
    assert tick.observations[Signal.MEMORY_AVAILABLE].available > 0


def test_internal_ip_without_a_server_is_the_first_non_loopback_ipv4() -> None:
    """With no server to route to, the InternalIP is the first interface's IPv4 address that is
    not loopback (read without psutil; psutil, asked here, agrees)."""
    import psutil

    first = next(
        (
            a.address
            for addrs in psutil.net_if_addrs().values()
            for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")
        ),
        "127.0.0.1",
    )
    assert internal_ip(None) == first


def test_threads_count_against_pid_available(tmp_path: Path) -> None:
    """Each thread holds a pid, as kubelet counts (tasks in /proc/loadavg): 1,000 idle threads
    in this process lower pid.available by about that much (processes alone did not move)."""

    def pids_available() -> int:
        m = measure(
            node_name="n1",
            state_dir=str(tmp_path),
            imagefs_path=None,
            server_url=None,
            runtime_info={},
        )
        return m.observations[Signal.PID_AVAILABLE].available

    before = pids_available()
    release = threading.Event()
    threads = [threading.Thread(target=release.wait, daemon=True) for _ in range(1000)]
    for thread in threads:
        thread.start()
    try:
        during = pids_available()
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    assert before - during >= 800, (before, during)  # other processes come and go meanwhile
