"""Two `nodeagent server` processes over one etcd (or an etcd cluster), as docs/operations.md
"Several servers on one etcd" sets them up: the second gets the first's CA and tokens, so one
kubeconfig and one node join secret work with both.

first, second = start_pair(tmp_path, "etcd://127.0.0.1:2379", *ELECTION)
(leader,) = leaders(first, second)     # who logged leader_elected
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.server import ServerProcess, start_server_process

SHARED_FILES = ("ca.crt", "ca.key", "admin-token", "node-token")
# short leader election so a takeover happens within seconds
ELECTION = (
    "--leader-elect-lease-duration=4s",
    "--leader-elect-renew-deadline=3s",
    "--leader-elect-retry-period=0.5s",
)


def start_pair(base: Path, store_url: str, *flags: str) -> tuple[ServerProcess, ServerProcess]:
    """Two servers on `store_url` (etcd://HOST:PORT[,HOST:PORT...]) with `flags` each."""
    store = f"--store={store_url}"
    first = start_server_process(base / "s1", store, *flags)
    (base / "s2").mkdir(mode=0o700)
    for name in SHARED_FILES:
        shutil.copy2(first.data_dir / name, base / "s2" / name)
    return first, start_server_process(base / "s2", store, *flags)


def leaders(*servers: ServerProcess) -> list[ServerProcess]:
    """The servers that logged taking the controllers' Lease (one, once elected; a killed
    leader's log still says it)."""
    return [s for s in servers if '"leader_elected"' in (s.log_path or Path()).read_text()]
