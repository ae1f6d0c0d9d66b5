"""A real agent process (`python -m nodeagent agent`) joined to the kubectl suite's server,
on the session's private podman service: started and stopped as one context."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.integration.kubectl.conftest import Cluster
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
    with (root / "agent.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            podman_service.remove_node_containers(node)
