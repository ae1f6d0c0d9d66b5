"""httpGet and tcpSocket probes against a real pod: readiness follows the server in the pod."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nodeagent.runtime.docker import connect_runtime
from tests.support.wait import wait_for

from .conftest import Agent, pod_yaml

pytestmark = pytest.mark.podman
# busybox httpd serves /www; the file `ready` decides the readiness probe's answer
HTTPD = (
    "mkdir -p /www && echo ok > /www/ready && httpd -p 8080 -h /www -f & "
    "trap 'exit 0' TERM; while true; do sleep 0.2; done"
)


async def ready(agent: Agent, name: str, want: bool) -> bool:
    pod = await agent.pod(name)
    return bool(pod and pod["phase"] == "Running" and pod["ready"] is want)


@pytest.mark.parametrize("host_network", [False, True])
async def test_http_readiness_follows_the_pod(
    make_agent: Callable[..., Agent], busybox: str, host_network: bool
) -> None:
    """An httpGet readiness probe on the pod IP (or the host with hostNetwork): ready while it
    answers 200, not ready once it answers 404; the container is not restarted."""
    agent = make_agent()
    port = 8080 if not host_network else 18080 + (hash(agent.settings.node_name) % 1000)
    script = HTTPD.replace("8080", str(port))
    probe = {
        "httpGet": {"path": "/ready", "port": "web"},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    ports = [{"name": "web", "containerPort": port}]
    (agent.manifests / "www.yaml").write_text(
        pod_yaml(
            "www",
            busybox,
            script=script,
            host_network=host_network,
            readinessProbe=probe,
            ports=ports,
            livenessProbe={"tcpSocket": {"port": port}},
        )
    )
    await agent.start()
    await wait_for(lambda: ready(agent, "www", True), timeout=30, message="www becomes ready")
    pod = await agent.pod("www")
    assert pod is not None
    cid = pod["containers"][0]["id"]
    # make the probe fail by removing the file it fetches
    runtime = await connect_runtime(agent.settings.runtime_socket)
    try:
        result = await runtime.exec(cid, ["/bin/rm", "/www/ready"], timeout=10)
        assert result.exit_code == 0
    finally:
        await runtime.close()
    await wait_for(lambda: ready(agent, "www", False), timeout=30, message="www becomes unready")
    pod = await agent.pod("www")
    assert pod is not None
    assert pod["containers"][0]["id"] == cid
    assert pod["restarts"] == 0
