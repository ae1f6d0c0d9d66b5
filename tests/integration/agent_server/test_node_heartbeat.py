"""Heartbeats as kubelet's since node leases: the Lease keeps a node alive, the status is sent
only on a change (or every nodeStatusReportFrequency), against the real server's controller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.reporter import LEASE_NAMESPACE
from nodeagent.api.timefmt import parse_time
from tests.integration.agent_server.conftest import (
    NODE,
    agent_settings,
    node_condition,
    running_sync,
)
from tests.support.server import ServerInfo, running_server
from tests.support.tcpproxy import TcpProxy
from tests.support.wait import wait_for

GRACE = 2.0  # the server's node monitor grace


@pytest.fixture
async def short_grace_server(tmp_path: Path) -> AsyncIterator[ServerInfo]:
    async with running_server(tmp_path / "server", node_monitor_grace_seconds=GRACE) as srv:
        yield srv


async def test_lease_keeps_node_ready_its_end_makes_it_unknown_and_its_return_ready(
    short_grace_server: ServerInfo, tmp_path: Path
) -> None:
    """With the status sent only on change, the node stays Ready long past the grace after its
    last status while the Lease is renewed; cut from the server it goes Unknown; back, the
    same agent (no restart) makes it Ready again at once, not at its next 5-minute report."""
    server = short_grace_server
    admin = ApiClient(server_url=server.url, token=server.admin_token, ca_file=str(server.ca_file))
    lease_path = resource_path("leases", namespace=LEASE_NAMESPACE, name=NODE)
    target = urlsplit(server.url)
    try:
        async with TcpProxy.running(target.hostname or "", target.port or 0) as proxy:
            url = f"https://{proxy.endpoint}"
            settings = agent_settings(
                server, tmp_path, server_url=url, node_status_report_frequency=300.0
            )
            async with running_sync(settings):

                async def ready_with_lease_past_grace() -> bool:
                    ready = await node_condition(admin, "Ready")
                    renewed = (await admin.get(lease_path))["spec"]["renewTime"]
                    beat = parse_time(ready["lastHeartbeatTime"])
                    return ready["status"] == "True" and parse_time(renewed) > beat + 3 * GRACE

                await wait_for(
                    ready_with_lease_past_grace,
                    timeout=30,
                    message="Ready while the lease is renewed, the status 3 graces old",
                )
                proxy.cut()
                await wait_for(
                    lambda: _ready_is(admin, "Unknown"), timeout=20, message="Unknown, cut off"
                )
                proxy.restore()
                await wait_for(
                    lambda: _ready_is(admin, "True"), timeout=20, message="Ready again, back"
                )
    finally:
        await admin.close()


async def _ready_is(admin: ApiClient, status: str) -> bool:
    return bool((await node_condition(admin, "Ready"))["status"] == status)
