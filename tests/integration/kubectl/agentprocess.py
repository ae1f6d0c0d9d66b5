"""A real agent process (`python -m nodeagent agent`) joined to the kubectl suite's server,
on the session's private podman service: started and stopped as one context."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from nodeagent.agent.tmpfs import unmount_under
from tests.integration.kubectl.conftest import Cluster, wait_for
from tests.support import leaks
from tests.support.podman import PodmanService
from tests.support.server import free_port


@contextlib.contextmanager
def agent_process(
    cluster: Cluster, podman_service: PodmanService, *, root: Path, node: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Run an agent for `node` with its files under `root` (its log in root/agent.log); on
    exit stop it and remove the containers it left."""
    secret = root / "join-secret"
    secret.write_text(cluster.server.join_secret)
    (root / "manifests").mkdir()
    argv = [
        sys.executable, "-m", "nodeagent", "agent",
        "--node-name", node,
        "--server", cluster.server.url,
        "--token-file", str(secret),
        "--ca-file", str(cluster.server.ca_file),
        "--runtime-socket", podman_service.socket_path,
        "--listen", f"127.0.0.1:{free_port()}",
        "--serving-listen", "127.0.0.1:0",  # any free port: the Node says which
        "--manifest-dir", str(root / "manifests"),
        "--state-dir", str(root / "state"),
    ]  # fmt: skip
    leaks.remember_log(root / "agent.log")  # scanned for tokens when the session ends
    with (root / "agent.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(
                lambda: _serving_port(cluster, node),
                timeout=60,
                what=f"node {node} advertises its serving port: {root / 'agent.log'}",
            )
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            leaks.remember_secrets_under(root / "state")  # its credentials: out of every log
            podman_service.remove_node_containers(node)
            unmount_under(root / "state")  # its pods' secret volumes' tmpfs


def _serving_port(cluster: Cluster, node: str) -> int:
    """The node's kubeletEndpoint port: 0 until its agent has a serving certificate and its
    TLS port is open (logs/exec/attach before that get a 503 naming the node)."""
    status, body = cluster.api("GET", f"/api/v1/nodes/{node}")
    endpoints = (body.get("status") or {}).get("daemonEndpoints") or {} if status == 200 else {}
    return int((endpoints.get("kubeletEndpoint") or {}).get("Port") or 0)
