"""Debian's etcd as a cluster of members on 127.0.0.1 (free ports), for quorum tests.

cluster = EtcdCluster.start(tmp_path / "etcd", members=3)   # waits until every member is healthy
cluster.store_url          # "etcd://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3" for --store
cluster.kill(1); cluster.kill(2)   # SIGKILL two members: quorum lost
cluster.stop()                     # SIGKILL the rest
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.server import free_port


@dataclass(kw_only=True)
class Member:
    name: str
    base: Path
    client_port: int
    peer_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"


@dataclass(kw_only=True)
class EtcdCluster:
    members: list[Member] = field(default_factory=list)

    @property
    def store_url(self) -> str:
        return "etcd://" + ",".join(f"127.0.0.1:{m.client_port}" for m in self.members)

    @classmethod
    def start(cls, base: Path, *, members: int = 3) -> EtcdCluster:
        cluster = cls(
            members=[
                Member(
                    name=f"m{i}",
                    base=base / f"m{i}",
                    client_port=free_port(),
                    peer_port=free_port(),
                )
                for i in range(members)
            ]
        )
        initial = ",".join(f"{m.name}={m.peer_url}" for m in cluster.members)
        for m in cluster.members:
            m.base.mkdir(parents=True, exist_ok=True)
            m.process = subprocess.Popen(
                [
                    "etcd",
                    f"--name={m.name}",
                    f"--data-dir={m.base / 'data'}",
                    f"--listen-client-urls={m.url}",
                    f"--advertise-client-urls={m.url}",
                    f"--listen-peer-urls={m.peer_url}",
                    f"--initial-advertise-peer-urls={m.peer_url}",
                    f"--initial-cluster={initial}",
                    "--initial-cluster-state=new",
                    "--initial-cluster-token=faults",
                    # small timeouts: an election in a fraction of a second on loopback
                    "--heartbeat-interval=50",
                    "--election-timeout=500",
                    "--log-level=warn",
                ],
                stdout=(m.base / "etcd.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
        try:
            for m in cluster.members:
                cluster._wait_healthy(m)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _wait_healthy(self, m: Member, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert m.process is not None
            if m.process.poll() is not None:
                raise AssertionError(f"etcd {m.name} exited: {self.logs(m)}")
            try:
                with urllib.request.urlopen(m.url + "/health", timeout=2) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"etcd {m.name} not healthy: {self.logs(m)}")
            time.sleep(0.05)

    def logs(self, m: Member) -> str:
        path = m.base / "etcd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self, index: int) -> None:
        """SIGKILL one member (a crash)."""
        process = self.members[index].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(5)

    def stop(self) -> None:
        """SIGKILL every member left (a test cluster keeps nothing worth a clean stop)."""
        for index in range(len(self.members)):
            self.kill(index)
