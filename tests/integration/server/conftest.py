"""Fixtures for the server's integration tests: a real server in this loop, admin sessions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.integration.server import test_schemathesis
from tests.support.server import ServerInfo, running_server


@pytest.fixture
async def server(tmp_path: Any) -> AsyncIterator[ServerInfo]:
    """The real server over HTTPS on 127.0.0.1 (controllers off: these tests drive objects)."""
    async with running_server(tmp_path / "data", run_controllers=False) as srv:
        yield srv


@pytest.fixture
async def admin(server: ServerInfo) -> AsyncIterator[aiohttp.ClientSession]:
    async with server.session() as session:
        yield session


async def call(
    session: aiohttp.ClientSession,
    server: ServerInfo,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request; returns (HTTP status, decoded JSON body)."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"Content-Type": content_type, **(headers or {})}
    async with session.request(method, server.url + path, data=data, headers=hdrs) as r:
        text = await r.text()
        return r.status, json.loads(text) if text else None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start schemathesis's runs (about 100 s of CPU against a server process of their own)
    as the session starts, when any of them is selected: they then overlap the many-host
    tests' waiting, and their tests later only collect the verdicts. Not in a pytest-xdist
    worker: every worker collects every test, and which one runs these is known only as they
    come; there the module's fixture starts the runs, and tests/support/parallel.py hands this
    module out first."""
    if hasattr(session.config, "workerinput"):
        return
    selected = any(item.path.name == "test_schemathesis.py" for item in session.items)
    if selected and not session.config.option.collectonly and not test_schemathesis.STARTED:
        test_schemathesis.start_runs()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Runs started early whose tests never ran (deselected by -x, an interrupt) are stopped."""
    test_schemathesis.stop_runs()
