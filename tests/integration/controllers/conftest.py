"""Fixtures: the real server in this event loop, with a Fleet that plays the agents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.controllers.fleet import Fleet
from tests.support.server import running_server


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    """A server with the default node grace (40 s): nodes stay Ready through a test."""
    async with running_server(tmp_path / "data") as server, server.session() as http:
        yield Fleet(server, http)


@pytest.fixture
async def short_grace_fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    """A server whose node grace (and so pod-GC quarantine) is 2 s."""
    async with (
        running_server(tmp_path / "data", node_monitor_grace_seconds=2.0) as server,
        server.session() as http,
    ):
        yield Fleet(server, http)
