"""An agent restart (SIGKILL, then a new process) flaps nothing: Ready keeps its value until
the first runtime check, no NodeNotReady/NodeReady events are recorded, the mirror pod is the
same object, and every pod keeps its one container."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService
from tests.support.wait import wait_until

from .agentfaults import FaultHost, Watch, fault_host, phase_ready, pod_containers

pytestmark = pytest.mark.podman


@pytest.fixture(scope="module")
def host(
    tmp_path_factory: pytest.TempPathFactory, podman_service: PodmanService, busybox: str
) -> Iterator[FaultHost]:
    with fault_host(tmp_path_factory.mktemp("agent-restart"), podman_service, busybox) as faults:
        yield faults


def _ready(node: Obj | None) -> Obj:
    for cond in ((node or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return {}


def _node_events(host: FaultHost, node: str, reason: str) -> int:
    return sum(1 for e in host.events_about("Node", node) if e.get("reason") == reason)


def test_a_restarted_agent_flaps_nothing(host: FaultHost) -> None:
    """Killed and started again: the Node's Ready is never anything but True on the server
    (a watch from before the kill sees every write), no NodeNotReady and no second NodeReady
    event, the static pod's mirror pod keeps its uid, both pods keep their container."""
    node = "restart-0"
    config = host.root / "fast-status.yaml"
    config.write_text("statusUpdateInterval: 1\nnodeStatusReportFrequency: 1\n")
    args = ("--config", str(config))
    static = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "static"},
              "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 1,
                       "containers": [{"name": "c", "image": host.image,
                                       "command": ["/bin/sleep", "3600"]}]}}  # fmt: skip
    (host.manifests(node) / "static.yaml").write_text(json.dumps(static))
    name = f"web-{node}"
    uid = host.create_pod(host.sleeper(name, node))["metadata"]["uid"]
    first = host.start_agent(node, extra_args=args)
    mirror = f"static-{node}"
    wait_until(lambda: phase_ready(host.pod(name)) and phase_ready(host.pod(mirror)),
               timeout=60, message="both pods Running and Ready")  # fmt: skip
    wait_until(lambda: _ready(host.node(node)).get("status") == "True", timeout=30,
               message="the node Ready")  # fmt: skip
    mirror_uid = (host.pod(mirror) or {})["metadata"]["uid"]
    (before,) = pod_containers(host.containers(node), uid)
    ready_events = _node_events(host, node, "NodeReady")
    current = host.node(node) or {}
    watch = Watch(host, f"/api/v1/nodes?fieldSelector=metadata.name={node}",
                  current["metadata"]["resourceVersion"])  # fmt: skip
    try:
        first.kill()
        again = host.start_agent(node, extra_args=args)
        wait_until(lambda: "runtime_available" in again.logs(), timeout=60,
                   message=f"the restarted agent checks the engine ({again.log_path})")  # fmt: skip
        beats: set[str] = set()

        def heartbeats_after_the_check() -> bool:
            beats.add(str(_ready(host.node(node)).get("lastHeartbeatTime")))
            return len(beats) >= 3  # two status writes after the runtime check (1 s apart)

        wait_until(heartbeats_after_the_check, timeout=30, message="two more heartbeats")
    finally:
        watch.close()
    seen = [_ready(obj).get("status") for kind, obj in watch.objects if kind == "MODIFIED"]
    assert seen, "the watch saw the restarted agent's status writes"
    assert set(seen) == {"True"}, seen
    assert _node_events(host, node, "NodeNotReady") == 0
    assert _node_events(host, node, "NodeReady") == ready_events
    assert (host.pod(mirror) or {})["metadata"]["uid"] == mirror_uid
    after = pod_containers(host.containers(node), uid)
    assert [c["Id"] for c in after] == [before["Id"]]
    again.stop()
