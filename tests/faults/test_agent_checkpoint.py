"""A corrupt checkpoint at boot, the server away: nothing running is stopped because of it and
nothing starts from it; the node reports it (condition CheckpointCorrupt, a Warning event)
once the server is back, and the pod keeps its container throughout."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from nodeagent.agent.checkpoint import checkpoint_path
from tests.support.podman import PodmanService
from tests.support.wait import wait_until

from .agentfaults import REPEAT, FaultHost, fault_host, phase_ready, pod_containers

pytestmark = pytest.mark.podman


@pytest.fixture(scope="module")
def host(
    tmp_path_factory: pytest.TempPathFactory, podman_service: PodmanService, busybox: str
) -> Iterator[FaultHost]:
    with fault_host(tmp_path_factory.mktemp("agent-checkpoint"), podman_service, busybox) as faults:
        yield faults


def _flip_one_bit_in_the_image_name(raw: bytes) -> bytes:
    """Still valid JSON, a changed spec: the damage only a checksum catches."""
    at = raw.index(b"busybox")
    return raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :]


def _condition(host: FaultHost, node: str, kind: str) -> dict[str, str] | None:
    for cond in ((host.node(node) or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


# The test command runs the truncated file (which stopped every server pod before); the
# one-bit flip (which replaced the pod with a changed spec) is in the unit tests
# (tests/unit/agent/test_checkpoint.py) and here with NODEAGENT_FAULT_REPEAT set.
DAMAGES = [pytest.param(lambda raw: raw[: len(raw) // 2], id="truncated")]
if REPEAT > 1:
    DAMAGES.append(pytest.param(_flip_one_bit_in_the_image_name, id="one-bit-in-a-string"))


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_corrupt_checkpoint_stops_nothing_and_starts_nothing(
    host: FaultHost, damage: Callable[[bytes], bytes]
) -> None:
    """Agent killed, server stopped, checkpoint damaged, agent started: the server pod's
    container keeps running (not an orphan: the API source is not seen), nothing is started
    from the damaged spec, a static pod still starts; with the server back the node says
    CheckpointCorrupt False (CheckpointRewritten), a Warning CheckpointCorrupt event is on the
    Node, and the pod still has its one, first container."""
    node = f"ckpt-{len(host.runs)}"
    name = f"web-{node}"
    uid = host.create_pod(host.sleeper(name, node))["metadata"]["uid"]
    first = host.start_agent(node)
    wait_until(lambda: phase_ready(host.pod(name)), timeout=60, message=f"{name} Ready")
    path = checkpoint_path(first.state_dir)
    wait_until(lambda: path.exists() and uid.encode() in path.read_bytes(), timeout=30,
               message="the pod checkpointed")  # fmt: skip
    (before,) = pod_containers(host.containers(node), uid)

    first.kill()
    host.server.stop()
    try:
        path.write_bytes(damage(path.read_bytes()))
        booted = host.start_agent(node)
        wait_until(lambda: "checkpoint_corrupt" in booted.logs(), timeout=60,
                   message=f"the agent reads the checkpoint ({booted.log_path})")  # fmt: skip
        # a static pod added now starts in a reconcile pass after the checkpoint was read
        static = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
                  "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 1,
                           "containers": [{"name": "c", "image": host.image,
                                           "command": ["/bin/sleep", "3600"]}]}}  # fmt: skip
        (host.manifests(node) / "probe.yaml").write_text(json.dumps(static))
        wait_until(
            lambda: any(
                c["Labels"].get("io.nodeagent.pod.name") == f"probe-{node}"
                and c["State"] == "running"
                for c in host.containers(node)
            ),
            timeout=60,
            message="the static pod starts with the server away",
        )
        during = pod_containers(host.containers(node), uid)
        assert [(c["Id"], c["State"]) for c in during] == [(before["Id"], "running")]
    finally:
        host.server.start()

    def rewritten() -> dict[str, str] | None:
        cond = _condition(host, node, "CheckpointCorrupt")
        return cond if cond and cond["status"] == "False" else None

    cond = wait_until(
        rewritten, timeout=60, message="CheckpointCorrupt False once the server is back"
    )
    assert cond["reason"] == "CheckpointRewritten"
    warnings = [
        e for e in host.events_about("Node", node) if e.get("reason") == "CheckpointCorrupt"
    ]
    assert [e["type"] for e in warnings] == ["Warning"]
    wait_until(lambda: phase_ready(host.pod(name)), timeout=60, message=f"{name} Ready again")
    after = pod_containers(host.containers(node), uid)
    assert [(c["Id"], c["State"]) for c in after] == [(before["Id"], "running")]
    booted.stop()
