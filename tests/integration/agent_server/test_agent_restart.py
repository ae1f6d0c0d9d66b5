"""A restarted agent keeps what it reported about its pods: status.startTime stays the time
the node first took the pod on (kubelet's status manager keeps the API pod's), not the
restart's."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.daemon import run_agent
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.state import AgentState
from nodeagent.api.timefmt import format_time
from tests.integration.agent_server.conftest import NODE, agent_settings, sleeper_pod
from tests.support.podman import PodmanService
from tests.support.server import ServerInfo, free_port
from tests.support.wait import wait_for

pytestmark = pytest.mark.podman
POD = resource_path("pods", namespace="default", name="kept")


@contextlib.asynccontextmanager
async def running(settings: AgentSettings) -> AsyncIterator[None]:
    """run_agent until the block ends (SIGTERM's path: the containers stay)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(settings, stop=stop, state=AgentState(node_name=NODE)))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_start_time_survives_an_agent_restart(
    server: ServerInfo,
    admin: ApiClient,
    podman_service: PodmanService,
    busybox: str,
    tmp_path: Path,
) -> None:
    """The pod's startTime on the server is the same after the agent restarts and reports
    the pod again (its ready condition written anew by the new process)."""
    (tmp_path / "manifests").mkdir()
    settings = agent_settings(
        server,
        tmp_path,
        manifest_dir=str(tmp_path / "manifests"),
        runtime_socket=podman_service.socket_path,
        listen=f"127.0.0.1:{free_port()}",
    )
    await admin.create(resource_path("pods", namespace="default"), sleeper_pod("kept", busybox))

    async def reported_running() -> str | None:
        status = (await admin.get(POD)).get("status") or {}
        return status.get("startTime") if status.get("phase") == "Running" else None

    try:
        async with running(settings):
            started = await wait_for(reported_running, timeout=60, message="the pod Running")

        async def a_second_later() -> bool:  # startTime has whole seconds
            return format_time(time.time()) > started

        await wait_for(a_second_later, timeout=5, message="the clock past startTime")
        # the restarted agent reports the pod afresh: mark the server's copy stale first
        await admin.patch(
            resource_path("pods", namespace="default", name="kept", subresource="status"),
            {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        )
        async with running(settings):

            async def ready_again() -> bool:
                conditions = (await admin.get(POD)).get("status", {}).get("conditions") or []
                return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

            await wait_for(ready_again, timeout=60, message="the restarted agent reports it")
            assert (await admin.get(POD))["status"]["startTime"] == started
    finally:
        podman_service.remove_node_containers(NODE)
