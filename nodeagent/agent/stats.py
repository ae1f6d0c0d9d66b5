"""Measure this host with psutil (the project's only psutil import): signals and node facts.

Owns `measure()`: memory.available (MemAvailable), nodefs (the state dir's filesystem, bytes and
inodes), imagefs (the engine's storage dir), pid.available (the task limit minus the tasks,
threads included, as kubelet counts), and the NodeFacts (capacity, addresses, nodeInfo).
Deciding what the figures mean is conditions.py's job.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeagent import KUBERNETES_VERSION, __version__
from nodeagent.agent.conditions import Observations, Observed, Signal
from nodeagent.agent.hostaddr import internal_ip
from nodeagent.agent.nodestatus import NodeFacts

MAX_PODS = 110
# platform.machine() -> the GOARCH names Kubernetes uses.
ARCH_NAMES: Mapping[str, str] = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
# kubectl shows this as the node's VERSION; "+nodeagent-X" is semver build metadata (as k3s does).
KUBELET_VERSION = f"{KUBERNETES_VERSION}+nodeagent-{__version__}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    observations: Observations
    facts: NodeFacts


def measure(
    *,
    node_name: str,
    state_dir: str,
    imagefs_path: str | None,
    server_url: str | None,
    runtime_info: Mapping[str, str],
    facts: NodeFacts | None = None,
    mounts: dict[str, tuple[str, str]] | None = None,
) -> Measurement:
    """One look at the host. A signal that cannot be read is left out (its condition waits).

    The reporter measures every second: it passes the `facts` it has (they change rarely; it
    asks for new ones every status interval) and a `mounts` memo (path -> mount point and
    device, filled here), so a tick reads only the signals."""
    psutil = _psutil()
    observations: dict[Signal, Observed] = {}
    memory = psutil.virtual_memory()
    observations[Signal.MEMORY_AVAILABLE] = Observed(
        available=int(memory.available), capacity=int(memory.total)
    )
    nodefs = _filesystem(state_dir, mounts)
    if nodefs is not None:
        where = f"{state_dir} ({nodefs.device})"
        observations[Signal.NODEFS_AVAILABLE] = Observed(
            available=nodefs.bytes_free, capacity=nodefs.bytes_total, where=where
        )
        if nodefs.inodes_total > 0:  # some filesystems (btrfs) do not count inodes
            observations[Signal.NODEFS_INODES_FREE] = Observed(
                available=nodefs.inodes_free, capacity=nodefs.inodes_total, where=where
            )
    imagefs = _filesystem(imagefs_path, mounts) if imagefs_path else None
    if imagefs is not None and imagefs_path is not None:
        observations[Signal.IMAGEFS_AVAILABLE] = Observed(
            available=imagefs.bytes_free,
            capacity=imagefs.bytes_total,
            where=f"{imagefs_path} ({imagefs.device})",
        )
    pid_max = _pid_max()
    if pid_max is not None:
        tasks = _tasks()
        running = tasks if tasks is not None else len(psutil.pids())
        observations[Signal.PID_AVAILABLE] = Observed(available=pid_max - running, capacity=pid_max)
    if facts is not None:
        return Measurement(observations=observations, facts=facts)
    arch = ARCH_NAMES.get(platform.machine(), platform.machine())
    capacity = {
        "cpu": str(psutil.cpu_count() or 1),
        "memory": f"{int(memory.total) // 1024}Ki",
        "pods": str(MAX_PODS),
    }
    if nodefs is not None:
        capacity["ephemeral-storage"] = f"{nodefs.bytes_total // 1024}Ki"
    facts = NodeFacts(
        capacity=capacity,
        addresses=(("InternalIP", internal_ip(server_url)), ("Hostname", node_name)),
        node_info=_node_info(arch=arch, runtime_info=runtime_info),
        os="linux",
        arch=arch,
    )
    return Measurement(observations=observations, facts=facts)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Filesystem:
    device: str
    mountpoint: str
    bytes_free: int
    bytes_total: int
    inodes_free: int
    inodes_total: int


def _filesystem(path: str, mounts: dict[str, tuple[str, str]] | None = None) -> _Filesystem | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    if mounts is None:
        mountpoint, device = _mount_of(path)
    else:
        mountpoint, device = mounts.get(path) or mounts.setdefault(path, _mount_of(path))
    return _Filesystem(
        device=device,
        mountpoint=mountpoint,
        bytes_free=st.f_bavail * st.f_frsize,
        bytes_total=st.f_blocks * st.f_frsize,
        inodes_free=st.f_favail,
        inodes_total=st.f_files,
    )


def _mount_of(path: str) -> tuple[str, str]:
    """(mount point, device) of the filesystem holding `path`: the longest matching mount."""
    real = os.path.realpath(path)
    best = ("/", "unknown")
    for part in _psutil().disk_partitions(all=True):
        mp = part.mountpoint
        inside = real == mp or real.startswith(mp.rstrip("/") + "/")
        if inside and len(mp) >= len(best[0]):
            best = (mp, part.device)
    return best


def _pid_max() -> int | None:
    """The most tasks this host can have: the lower of kernel.pid_max and kernel.threads-max
    (kubelet's pidlimit.Stats)."""
    limits = []
    for name in ("pid_max", "threads-max"):
        try:
            limits.append(int(Path(f"/proc/sys/kernel/{name}").read_text().strip()))
        except (OSError, ValueError):
            continue
    return min(limits, default=None)


def _tasks() -> int | None:
    """The tasks (threads included: each holds a pid) running now, from /proc/loadavg's fourth
    field ("2/3518"), as kubelet counts them; None when it cannot be read."""
    try:
        return int(Path("/proc/loadavg").read_text().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        return None


def _psutil() -> Any:
    """psutil, imported at the first measure: only an agent with a server measures the host."""
    import psutil

    return psutil


def _read_first(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read_first("/etc/os-release").splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip().strip('"')
    return "Linux"


def _node_info(*, arch: str, runtime_info: Mapping[str, str]) -> dict[str, str]:
    engine = runtime_info.get("name", "")
    version = runtime_info.get("version", "")
    return {
        "machineID": _read_first("/etc/machine-id"),
        "systemUUID": _read_first("/sys/class/dmi/id/product_uuid"),
        "bootID": _read_first("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": platform.release(),
        "osImage": _os_image(),
        "containerRuntimeVersion": f"{engine}://{version}" if engine else "",
        "kubeletVersion": KUBELET_VERSION,
        "operatingSystem": "linux",
        "architecture": arch,
    }
