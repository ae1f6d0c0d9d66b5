"""A real agent process (`python -m nodeagent agent`) joined to a server, on a podman service.

    with agent_process(srv, podman_service, root=tmp_path / "a", node="n1") as agent:
        ...  agent.log_path, agent.state_dir, agent.listen

Its files live under `root` (the join secret, manifests/, state/ unless `state_dir` is given) and
its stdout+stderr go to root/agent.log. It is yielded once its Node advertises its serving port
(logs and exec work from then on). On exit it gets SIGTERM and the containers it left are
removed.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nodeagent.agent.tmpfs import unmount_under
from tests.support import leaks
from tests.support.podman import PodmanService
from tests.support.server import ServerInfo, free_port
from tests.support.wait import wait_until


@dataclass(frozen=True, kw_only=True)
class AgentProcess:
    process: subprocess.Popen[bytes]
    node: str
    state_dir: Path
    log_path: Path
    listen: str  # HOST:PORT of its local endpoints

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def agent_process(
    server: ServerInfo,
    podman: PodmanService,
    *,
    root: Path,
    node: str,
    state_dir: Path | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[AgentProcess]:
    """Run an agent for `node` against `server` until the context exits (`extra_args` are
    more flags, e.g. ("--log-level", "debug"))."""
    root.mkdir(parents=True, exist_ok=True)
    secret = root / "join-secret"
    secret.write_text(server.join_secret)
    secret.chmod(0o600)
    (root / "manifests").mkdir(exist_ok=True)
    state = state_dir or root / "state"
    listen = f"127.0.0.1:{free_port()}"
    argv = [
        sys.executable, "-m", "nodeagent", "agent",
        "--node-name", node,
        "--server", server.url,
        "--token-file", str(secret),
        "--ca-file", str(server.ca_file),
        "--runtime-socket", podman.socket_path,
        "--listen", listen,
        "--serving-listen", "127.0.0.1:0",  # any free port: the Node says which
        "--manifest-dir", str(root / "manifests"),
        "--state-dir", str(state),
        *extra_args,
    ]  # fmt: skip
    log_path = root / "agent.log"
    leaks.remember_log(log_path)
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: _serving_port(server, node),
            timeout=60,
            message=f"node {node} advertises its serving port (see {log_path})",
        )
        yield AgentProcess(
            process=process, node=node, state_dir=state, log_path=log_path, listen=listen
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        leaks.remember_secrets_under(state)  # its credentials: kept out of every log
        podman.remove_node_containers(node)
        unmount_under(state)  # its pods' secret and token volumes' tmpfs


def _serving_port(server: ServerInfo, node: str) -> int:
    """The Node's kubeletEndpoint port: 0 until the agent has its serving certificate and its
    TLS port is open (kubectl logs/exec before that are a 503)."""
    request = urllib.request.Request(
        f"{server.url}/api/v1/nodes/{node}",
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    try:
        with urllib.request.urlopen(request, context=server.ssl_context(), timeout=5) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError:
        return 0  # 404 until the agent registers its Node
    endpoints = (body.get("status") or {}).get("daemonEndpoints") or {}
    return int((endpoints.get("kubeletEndpoint") or {}).get("Port") or 0)
