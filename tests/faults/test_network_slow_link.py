"""A slow link between an agent and the server (a TCP proxy holding every chunk 300 ms each
way; this kernel has no netem) for longer than the node-monitor grace: the node stays Ready,
because its Lease renewals still get through, later but in time."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.faults.serverfaults import ThreadedProxy, call
from tests.support.agentprocess import agent_process
from tests.support.podman import PodmanService
from tests.support.server import ServerProcess, start_server_process
from tests.support.wait import wait_until

GRACE = 6  # seconds: the server's --node-monitor-grace-period here
DELAY = 0.3  # seconds each chunk waits in the proxy, both ways


def _get(srv: ServerProcess, path: str) -> dict[str, object]:
    code, text = call(srv.url + path, token=srv.admin_token, context=srv.ssl_context())
    assert code == 200, text
    body: dict[str, object] = json.loads(text)
    return body


def _ready(srv: ServerProcess, node: str) -> str:
    status = _get(srv, f"/api/v1/nodes/{node}")["status"]
    assert isinstance(status, dict)
    return next((c["status"] for c in status["conditions"] if c["type"] == "Ready"), "")


def _renewed(srv: ServerProcess, node: str) -> str:
    lease = _get(srv, f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}")
    spec = lease["spec"]
    assert isinstance(spec, dict)
    return str(spec["renewTime"])


def test_a_slow_link_keeps_the_node_ready(tmp_path: Path, podman_service: PodmanService) -> None:
    srv = start_server_process(tmp_path / "server", "--node-monitor-grace-period", f"{GRACE}s")
    config = tmp_path / "agent.yaml"
    # the heartbeats time out after the status update interval (kubelet's rule): 3 s holds a
    # renewal through the proxy's delays, even on a new connection's handshake
    config.write_text("leaseInterval: 1\nstatusUpdateInterval: 3\n")
    try:
        with ThreadedProxy("127.0.0.1", int(urlsplit(srv.url).port or 0)) as proxy:
            through = dataclasses.replace(srv, url=f"https://{proxy.endpoint}")
            with agent_process(
                through,
                podman_service,
                root=tmp_path / "agent",
                node="slow",
                extra_args=("--config", str(config)),
            ):
                wait_until(lambda: _ready(srv, "slow") == "True", timeout=30, message="Ready")
                proxy.set_delay(DELAY)
                renewals = {_renewed(srv, "slow")}
                deadline = time.monotonic() + GRACE + 1  # past the grace
                while time.monotonic() < deadline:
                    assert _ready(srv, "slow") == "True", "the node left Ready on a slow link"
                    renewals.add(_renewed(srv, "slow"))
                    time.sleep(0.5)
                assert len(renewals) >= 3, renewals  # the Lease went on being renewed
                proxy.set_delay(0)
    finally:
        srv.kill()  # nothing to keep: no clean stop to wait for
