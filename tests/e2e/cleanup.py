"""Removing what an e2e run made: containers (sandboxes last), processes, mounts, links, netns.

Each run writes what it creates to /run/nodeagent-e2e/RUN.json before creating it; teardown
and the next run after a crash (whose recorded pid is dead) remove it all from that record.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path

from tests.support.podman import clear_containers

STATE_DIR = Path("/run/nodeagent-e2e")
NETNS_PREFIX = "nae2e-"
LINK_RE = re.compile(r"^nae([0-9a-f]{4})(?:h\d+|br)$")


def engine_argv(base_dir: str, run_dir: str, netns: str) -> tuple[list[str], dict[str, str]]:
    """The podman CLI on a host's storage (the layout of tests/support/podman.py)."""
    prefix = (
        ["nsenter", f"--net=/run/netns/{netns}"] if Path(f"/run/netns/{netns}").exists() else []
    )
    argv = [*prefix, "podman", "--root", f"{base_dir}/root", "--runroot", f"{run_dir}/run",
            "--tmpdir", f"{run_dir}/tmp", "--storage-driver", "vfs"]  # fmt: skip
    return argv, {**os.environ, "CONTAINERS_CONF": f"{base_dir}/containers.conf"}


def cleanup_run(record: Path) -> None:
    """Remove what a run recorded: processes in its netns, mounts, links, netns."""
    if not record.exists():
        return
    data = json.loads(record.read_text())
    for engine in data.get("engines", []):
        with contextlib.suppress(Exception):
            clear_containers(*engine_argv(*json.loads(engine)))
    for pid in data.get("procs", []):
        with contextlib.suppress(OSError):
            if b"nodeagent" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(int(pid), signal.SIGKILL)
    for netns in data.get("netnss", []):
        pids = sh("ip", "netns", "pids", netns, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    for run_dir in data.get("run_dirs", []):
        unmount_under(run_dir)
    for engine in data.get("engines", []):
        unmount_under(json.loads(engine)[0])
    for link in data.get("links", []):
        sh("ip", "link", "del", link, check=False)
    for netns in data.get("netnss", []):
        sh("ip", "netns", "del", netns, check=False)
    record.unlink(missing_ok=True)


def unmount_under(prefix: str) -> None:
    """Lazily unmount whatever is still mounted below `prefix` (containers' shm, netns)."""
    for line in reversed(Path("/proc/mounts").read_text().splitlines()):
        mountpoint = line.split()[1]
        if mountpoint.startswith(prefix.rstrip("/") + "/"):
            sh("umount", "-l", mountpoint, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_leftovers() -> None:
    """Best effort: remove what crashed earlier runs left behind (never a live run's things)."""
    live: set[str] = set()
    for record in STATE_DIR.glob("*.json") if STATE_DIR.exists() else []:
        try:
            pid = int(json.loads(record.read_text()).get("pid", 0))
        except (ValueError, OSError):
            pid = 0
        if pid and _alive(pid):
            live.add(record.stem)
        else:
            cleanup_run(record)
    for netns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = netns.split(" ")[0]
        if name.startswith(NETNS_PREFIX) and name[len(NETNS_PREFIX) :][:4] not in live:
            cleanup_run_netns(name)
    for line in sh("ip", "-o", "link", check=False).stdout.splitlines():
        link = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        m = LINK_RE.match(link)
        if m and m.group(1) not in live:
            sh("ip", "link", "del", link, check=False)


def cleanup_run_netns(netns: str) -> None:
    for pid in sh("ip", "netns", "pids", netns, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    sh("ip", "netns", "del", netns, check=False)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result
