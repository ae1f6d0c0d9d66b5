"""Pressure on this host for the agent's fault cases: memory (stress-ng), inodes, processes,
and the CPU of one process (a cgroup quota). Every one is bounded and undone when its block
ends, whatever happened inside it.

    with hog_memory(600 * MI):             # stress-ng holding 600 MiB of touched pages
        ...
    with sleepers(600):                    # 600 more processes (a bounded fork loop)
        ...
    with starved_cpu(agent_pid, share=0.02):   # the process gets 2 % of one CPU
        ...
    made = fill_inodes(directory)          # empty files until ENOSPC; remove_files(made)
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

MI = 1024 * 1024
MAX_HOG = 3072 * MI  # never ask stress-ng for more than this (the machine has no swap)
MAX_SLEEPERS = 2000
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "nodeagent-fault-starved"


def memory_available() -> int:
    """MemAvailable in bytes, as the agent reads it (psutil's virtual_memory().available)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group a Popen(start_new_session=True) leads, and reap its leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


@contextlib.contextmanager
def hog_memory(size: int, *, timeout: int = 120) -> Iterator[subprocess.Popen[bytes]]:
    """stress-ng holding `size` bytes of populated anonymous memory (one vm worker that maps,
    touches and then sleeps) until the block ends; killed with its workers, even on error.
    It gives up by itself after `timeout` seconds, should this process die first."""
    if shutil.which("stress-ng") is None:
        raise AssertionError("stress-ng is not installed (scripts/test.sh installs it)")
    if not 0 < size <= MAX_HOG:
        raise ValueError(f"{size} bytes: a hog is between 1 byte and {MAX_HOG // MI} MiB")
    argv = [
        "stress-ng", "--vm", "1", "--vm-bytes", str(size), "--vm-keep", "--vm-populate",
        "--vm-hang", "0", "--timeout", f"{timeout}s", "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(argv, start_new_session=True)
    try:
        yield process
    finally:
        _stop_group(process)


@contextlib.contextmanager
def sleepers(count: int, *, seconds: int = 120) -> Iterator[subprocess.Popen[bytes]]:
    """A fork loop of `count` (bounded) sleeping processes under one shell, all in one process
    group that is killed when the block ends."""
    if not 0 < count <= MAX_SLEEPERS:
        raise ValueError(f"{count}: between 1 and {MAX_SLEEPERS} sleepers")
    script = f'i=0; while [ "$i" -lt {count} ]; do sleep {seconds} & i=$((i+1)); done; wait'
    process = subprocess.Popen(["/bin/sh", "-c", script], start_new_session=True)
    try:
        yield process
    finally:
        _stop_group(process)


def fill_inodes(directory: Path, *, limit: int = 100_000) -> list[Path]:
    """Empty files made in `directory` until its filesystem has no inode left (ENOSPC), at
    most `limit` of them; the files made, for remove_files."""
    made: list[Path] = []
    for i in range(limit):
        path = directory / f"inode-{i}"
        try:
            path.touch(exist_ok=False)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            return made
        made.append(path)
    return made


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def cgroup_cpu_dir() -> tuple[Path, str] | None:
    """Where this host lets a test make a CPU-limited cgroup: (the parent directory, "v2" or
    "v1"), or None."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # cgroup v2, unified at the root
        controllers = (CGROUP_ROOT / "cgroup.subtree_control").read_text().split()
        return (CGROUP_ROOT, "v2") if "cpu" in controllers else None
    if (CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").exists() or (CGROUP_ROOT / "cpu").is_dir():
        return (CGROUP_ROOT / "cpu", "v1")
    return None


def can_starve_cpu() -> str | None:
    """Why this host cannot limit one process's CPU, or None."""
    if os.geteuid() != 0:
        return "needs root (a cgroup with a CPU quota)"
    found = cgroup_cpu_dir()
    if found is None:
        return "no writable cgroup cpu controller"
    parent, _ = found
    probe = parent / f"{CGROUP_NAME}-probe"
    try:
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError as exc:
        return f"cannot make a cgroup under {parent}: {exc.strerror}"
    return None


def cpu_throttled(group: Path) -> int:
    """How many periods the quota of `group` held its processes back (cpu.stat nr_throttled)."""
    for line in (group / "cpu.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "nr_throttled":
            return int(value)
    return 0


def _cgroup_of(pid: int, version: str) -> str:
    """The cgroup `pid` is in now (for the cpu controller on v1), as /proc/PID/cgroup says."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (version == "v2" and controllers == "") or "cpu" in controllers.split(","):
            return path
    return "/"


@contextlib.contextmanager
def starved_cpu(pid: int, *, share: float, period_us: int = 100_000) -> Iterator[Path]:
    """Process `pid` (all its threads) in a cgroup allowed `share` of one CPU (cpu.max on
    cgroup v2, cpu.cfs_quota_us on v1) until the block ends; then moved back and the cgroup
    removed."""
    found = cgroup_cpu_dir()
    if found is None:
        raise AssertionError("no cgroup cpu controller")
    parent, version = found
    group = parent / CGROUP_NAME
    group.mkdir(exist_ok=True)
    quota = max(1000, int(period_us * share))
    if version == "v2":
        (group / "cpu.max").write_text(f"{quota} {period_us}\n")
    else:
        (group / "cpu.cfs_period_us").write_text(f"{period_us}\n")
        (group / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    home = parent / _cgroup_of(pid, version).lstrip("/")
    try:
        (group / "cgroup.procs").write_text(f"{pid}\n")
        yield group
    finally:
        with contextlib.suppress(ProcessLookupError, OSError):  # it may have ended meanwhile
            (home / "cgroup.procs").write_text(f"{pid}\n")
        with contextlib.suppress(OSError):
            group.rmdir()
