"""Pod status conditions other clients add survive the agent's writes, and readiness gates hold
Ready: the agent in-process on real podman, the real server, the real kubectl."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.state import AgentState
from nodeagent.api.bodies import Obj
from tests.integration.agent_server.conftest import agent_on, sleeper_pod
from tests.support.podman import PodmanService
from tests.support.server import ServerInfo
from tests.support.wait import wait_for

pytestmark = pytest.mark.podman
PODS = resource_path("pods", namespace="default")
KUBECTL = Path(sys.executable).parent / "kubectl"
GATE = "example.com/ready"


@pytest.fixture
async def agent(
    server: ServerInfo, podman_service: PodmanService, tmp_path: Path
) -> AsyncIterator[AgentState]:
    async with agent_on(server, podman_service, tmp_path) as state:
        yield state


async def kubectl(server: ServerInfo, *args: str) -> str:
    """The real kubectl against the server (without blocking the server in this loop)."""
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL),
        *args,
        env=server.kubectl_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
    return out.decode()


async def add_condition(server: ServerInfo, name: str, condition: Obj) -> None:
    """Another client's condition, as `kubectl patch --subresource=status --type=json` adds it."""
    patch = [{"op": "add", "path": "/status/conditions/-", "value": condition}]
    await kubectl(
        server,
        "patch",
        "pod",
        name,
        "--subresource=status",
        "--type=json",
        "-p",
        json.dumps(patch),
    )


def conditions(pod: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}


async def readiness_gates_column(server: ServerInfo, name: str) -> str:
    """The READINESS GATES column of `kubectl get pods -o wide`."""
    lines = (await kubectl(server, "get", "pods", name, "-o", "wide")).splitlines()
    assert lines[0].split()[-2:] == ["READINESS", "GATES"]
    return lines[1].split()[-1]


async def test_readiness_gate_holds_ready_until_its_condition_is_true(
    server: ServerInfo, admin: ApiClient, agent: AgentState, busybox: str
) -> None:
    """A running pod with a readiness gate stays Ready False (ReadinessGatesNotReady, kubelet's
    message) while ContainersReady is True; once a client sets the gate's condition True the
    agent reports Ready True, and the condition is still there after that write."""
    gates = [{"conditionType": GATE}]
    await admin.create(PODS, sleeper_pod("gated", busybox, readinessGates=gates))
    path = resource_path("pods", namespace="default", name="gated")

    async def held() -> Obj | None:
        conds = conditions(await admin.get(path))
        ready = conds.get("Ready") or {}
        if conds.get("ContainersReady", {}).get("status") != "True":
            return None
        return ready if ready.get("reason") == "ReadinessGatesNotReady" else None

    ready = await wait_for(held, timeout=60, message="containers ready, Ready held by the gate")
    assert ready["status"] == "False"
    assert ready["message"] == (
        f'corresponding condition of pod readiness gate "{GATE}" does not exist.'
    )
    assert await readiness_gates_column(server, "gated") == "0/1"

    await add_condition(server, "gated", {"type": GATE, "status": "True"})

    async def ready_true() -> Obj | None:
        pod = await admin.get(path)
        return pod if conditions(pod).get("Ready", {}).get("status") == "True" else None

    pod = await wait_for(ready_true, timeout=30, message="Ready True once the gate is True")
    assert "reason" not in conditions(pod)["Ready"]
    assert conditions(pod)[GATE]["status"] == "True"  # kept by the write that set Ready True
    assert await readiness_gates_column(server, "gated") == "1/1"


async def test_foreign_condition_survives_a_container_restart(
    server: ServerInfo,
    admin: ApiClient,
    agent: AgentState,
    busybox: str,
    podman_service: PodmanService,
) -> None:
    """A condition another client added to a pod without gates is still there after the
    agent writes the status of a restarted container."""
    created = await admin.create(PODS, sleeper_pod("lb", busybox))
    path = resource_path("pods", namespace="default", name="lb")

    async def ready() -> bool:
        return conditions(await admin.get(path)).get("Ready", {}).get("status") == "True"

    await wait_for(ready, timeout=60, message="pod Ready")
    await add_condition(server, "lb", {"type": "example.com/LB", "status": "True"})
    uid = created["metadata"]["uid"]
    ids = podman_service.podman(
        "ps", "-q", "--filter", f"label=io.nodeagent.pod.uid={uid}"
    ).stdout.split()
    assert ids, "the pod's container runs"
    podman_service.podman("kill", *ids)

    async def restarted() -> Obj | None:
        pod = await admin.get(path)
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        return pod if statuses[0].get("restartCount") == 1 else None

    pod = await wait_for(restarted, timeout=60, message="restart reported")
    assert conditions(pod)["example.com/LB"]["status"] == "True"
    assert pod["status"]["conditions"][0]["type"] == "example.com/LB"  # first, as kubelet
