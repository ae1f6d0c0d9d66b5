"""Fixtures for the server's integration tests: a real server in this loop, admin sessions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

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
