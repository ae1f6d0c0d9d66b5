"""The agent killed at each failpoint (exit 137, nothing flushed) and started again: one
container per pod container, never a second one, the checkpoint old or new and never torn.

Each case runs once here; `NODEAGENT_FAULT_REPEAT=20` runs each 20 times (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeagent.agent.checkpoint import checkpoint_path, decode_checkpoint
from nodeagent.failpoints import EXIT_CODE
from tests.support.podman import PodmanService
from tests.support.wait import wait_until

from .agentfaults import REPEAT, FaultHost, fault_host, phase_ready, pod_containers

pytestmark = pytest.mark.podman

FAILPOINTS = (
    "after-container-create",
    "after-container-start",
    "before-checkpoint-rename",
    "after-status-write",
)


@pytest.fixture(scope="module")
def host(
    tmp_path_factory: pytest.TempPathFactory, podman_service: PodmanService, busybox: str
) -> Iterator[FaultHost]:
    with fault_host(tmp_path_factory.mktemp("agent-crash"), podman_service, busybox) as faults:
        yield faults


def _checkpoint_whole(state_dir: Path) -> None:
    """The checkpoint is absent (never written yet) or decodes: never torn."""
    path = checkpoint_path(state_dir)
    if path.exists():
        decode_checkpoint(path.read_bytes())


@pytest.mark.parametrize("run", range(REPEAT))
@pytest.mark.parametrize("point", FAILPOINTS)
def test_killed_at_a_failpoint_the_agent_recovers_with_one_container(
    host: FaultHost, point: str, run: int
) -> None:
    """Killed at `point` while starting a server pod, then started again: the pod runs and is
    Ready with exactly one container (a created-only one is replaced, never doubled), and the
    checkpoint reads whole before and after."""
    node = f"crash-{FAILPOINTS.index(point)}-{run}"
    name = f"web-{node}"
    uid = host.create_pod(host.sleeper(name, node))["metadata"]["uid"]
    crashing = host.start_agent(node, failpoints=point)
    wait_until(
        lambda: crashing.exit_code() is not None,
        timeout=90,
        message=f"the agent reaches {point} and exits (see {crashing.log_path})",
    )
    assert crashing.exit_code() == EXIT_CODE, crashing.logs()[-2000:]
    assert f"failpoint {point} reached" in crashing.logs()
    _checkpoint_whole(crashing.state_dir)

    again = host.start_agent(node)
    wait_until(
        lambda: phase_ready(host.pod(name)),
        timeout=90,
        message=f"{name} Running and Ready after the restart (see {again.log_path})",
    )
    found = pod_containers(host.containers(node), uid)
    assert len(found) == 1, found
    assert found[0]["State"] == "running"
    wait_until(
        lambda: checkpoint_path(again.state_dir).exists(),
        timeout=30,
        message="the restarted agent checkpoints the server's pods",
    )
    pods = decode_checkpoint(checkpoint_path(again.state_dir).read_bytes())
    assert [p["metadata"]["uid"] for p in pods] == [uid]
    again.stop()
