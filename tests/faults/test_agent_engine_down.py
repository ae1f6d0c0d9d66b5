"""The engine's API down (the podman service stopped; its containers keep running): the Node
turns NotReady naming the runtime, the pods' Ready turns False on the server with the phase
kept (kubelet's node-lifecycle MarkPodsNotReady), no container is touched, and all comes back
with the engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService, busybox_image
from tests.support.server import start_server_process
from tests.support.wait import wait_until

from .agentfaults import FaultHost, phase_ready, pod_containers, start_engine_api, stop_engine_api

pytestmark = pytest.mark.podman


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultHost]:
    """A podman of its own (this test stops its API) and a server process."""
    root = tmp_path_factory.mktemp("agent-engine-down")
    engine = PodmanService.start(root / "podman")
    server = start_server_process(root / "server")
    faults = FaultHost(server=server, podman=engine, root=root, image=busybox_image(engine))
    try:
        yield faults
    finally:
        faults.close()
        server.stop()
        engine.stop()


def _condition(obj: Obj | None, kind: str) -> Obj:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def test_engine_down_makes_node_and_pods_not_ready_and_touches_nothing(host: FaultHost) -> None:
    """Engine API stopped: Node Ready False ("container runtime is down"), the pod Ready False
    (reason ContainerRuntimeDown) and still Running; engine back: both Ready again, the same
    container."""
    node = "engine-down-0"
    name = f"web-{node}"
    uid = host.create_pod(host.sleeper(name, node))["metadata"]["uid"]
    agent = host.start_agent(node)
    wait_until(lambda: phase_ready(host.pod(name)), timeout=60, message=f"{name} Ready")
    (before,) = pod_containers(host.containers(node), uid)
    stop_engine_api(host.podman)
    try:
        wait_until(
            lambda: (
                "container runtime is down"
                in _condition(host.node(node), "Ready").get("message", "")
            ),
            timeout=60,
            message="the Node NotReady naming the runtime",
        )
        wait_until(
            lambda: _condition(host.pod(name), "Ready").get("status") == "False",
            timeout=30,
            message="the pod's Ready False on the server",
        )
        pod = host.pod(name) or {}
        assert pod["status"]["phase"] == "Running"
        assert _condition(pod, "Ready")["reason"] == "ContainerRuntimeDown"
    finally:
        start_engine_api(host.podman)
    wait_until(lambda: _condition(host.node(node), "Ready").get("status") == "True", timeout=60,
               message="the Node Ready again")  # fmt: skip
    wait_until(lambda: phase_ready(host.pod(name)), timeout=60, message=f"{name} Ready again")
    after = pod_containers(host.containers(node), uid)
    assert [(c["Id"], c["State"]) for c in after] == [(before["Id"], "running")]
    agent.stop()
