"""kubelet's image events end to end: the agent in-process on a real podman service that pulls
from the local registry, reporting to the real server; read back as `kubectl get events` does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.state import AgentState
from tests.integration.agent_server.conftest import agent_on, sleeper_pod
from tests.support.podman import PodmanService
from tests.support.registry import LocalRegistry
from tests.support.server import ServerInfo
from tests.support.wait import wait_for

pytestmark = pytest.mark.podman
PODS = resource_path("pods", namespace="default")


@pytest.fixture
async def agent(
    server: ServerInfo, puller: PodmanService, tmp_path: Path
) -> AsyncIterator[AgentState]:
    async with agent_on(server, puller, tmp_path) as state:
        yield state


async def pod_events(admin: ApiClient, name: str, reasons: int) -> list[tuple[str, str]]:
    """The pod's events in name order (as kubectl get events lists one pod's), once there are
    at least `reasons` of them."""
    listed = await admin.list(resource_path("events", namespace="default"))
    mine = sorted(
        (e for e in listed["items"] if e["involvedObject"]["name"] == name),
        key=lambda e: e["metadata"]["name"],
    )
    assert len(mine) >= reasons, mine
    return [(e["reason"], e["message"]) for e in mine]


async def test_a_pulled_image_then_one_already_present(
    agent: AgentState,
    admin: ApiClient,
    podman_service: PodmanService,
    busybox: str,
    image_registry: LocalRegistry,
) -> None:
    """The first pod's image is pulled: Pulling, then Pulled with the time and size, then
    Created, Started. The second pod finds it there: one "already present", no Pulling."""
    ref = f"{image_registry.address}/tools/busybox:events"
    podman_service.podman("push", "--tls-verify=false", busybox, ref)
    await admin.create(PODS, sleeper_pod("first", ref, pull="IfNotPresent"))
    first = await wait_for(lambda: pod_events(admin, "first", 4), timeout=60, message="events")
    assert [reason for reason, _m in first] == ["Pulling", "Pulled", "Created", "Started"]
    assert first[0][1] == f'Pulling image "{ref}"'
    pulled = first[1][1]
    assert pulled.startswith(f'Successfully pulled image "{ref}" in ')
    assert "s including waiting). Image size: " in pulled
    assert pulled.endswith(" bytes.")

    await admin.create(PODS, sleeper_pod("second", ref, pull="IfNotPresent"))
    second = await wait_for(lambda: pod_events(admin, "second", 3), timeout=60, message="again")
    assert second == [
        ("Pulled", f'Container image "{ref}" already present on machine'),
        ("Created", "Created container: c"),
        ("Started", "Started container c"),
    ]
