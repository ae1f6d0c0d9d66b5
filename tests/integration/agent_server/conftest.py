"""Fixtures: the real server in this loop, an admin client, and run_server_sync for one node."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.serversync import run_server_sync
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.sources.update import SourceUpdate
from nodeagent.agent.state import AgentState
from nodeagent.api.bodies import Obj
from tests.support.agenttask import running_agent
from tests.support.podman import PodmanService
from tests.support.server import ServerInfo, free_port, running_server

NODE = "node-a"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerInfo]:
    async with running_server(tmp_path / "server", watch_window=50) as srv:
        yield srv


@pytest.fixture
async def admin(server: ServerInfo) -> AsyncIterator[ApiClient]:
    client = ApiClient(server_url=server.url, token=server.admin_token, ca_file=str(server.ca_file))
    yield client
    await client.close()


def agent_settings(server: ServerInfo, tmp_path: Path, **changes: Any) -> AgentSettings:
    token_file = tmp_path / "join-secret"
    token_file.write_text(server.join_secret)
    state_dir = tmp_path / "state"
    state_dir.mkdir(exist_ok=True)
    base = AgentSettings(
        node_name=NODE,
        labels={"disk": "ssd"},
        taints=({"key": "dedicated", "value": "logs", "effect": "NoSchedule"},),
        state_dir=str(state_dir),
        server_url=server.url,
        token_file=str(token_file),
        ca_file=str(server.ca_file),
        listen="127.0.0.1:10299",
        serving_listen="127.0.0.1:0",  # any free port: 10250, the default, is one per host
        status_update_interval=1.0,
        lease_interval=0.5,
        pressure_transition_period=1.5,
    )
    return replace(base, **changes)


@dataclass(kw_only=True)
class Agent:
    """run_server_sync running for one node, with the state and queue a test drives."""

    state: AgentState
    queue: asyncio.Queue[SourceUpdate]
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def running_sync(settings: AgentSettings, **kw: Any) -> AsyncIterator[Agent]:
    state = AgentState(node_name=settings.node_name, runtime_error=None)
    state.runtime_info = {"name": "podman", "version": "4.3.1"}
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = asyncio.create_task(
        run_server_sync(settings=settings, state=state, queue=queue, tick=0.1, **kw)
    )
    try:
        yield Agent(state=state, queue=queue, task=task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


StartAgent = Callable[..., contextlib.AbstractAsyncContextManager[Agent]]


async def get_node(admin: ApiClient) -> Obj:
    return await admin.get(resource_path("nodes", name=NODE))


async def node_condition(admin: ApiClient, ctype: str) -> Obj:
    """The Node's condition of that type; LookupError while there is none (wait_for retries)."""
    node = await get_node(admin)
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    raise LookupError(f"no {ctype} condition yet")


@contextlib.asynccontextmanager
async def agent_on(
    server: ServerInfo, engine: PodmanService, tmp_path: Path
) -> AsyncIterator[AgentState]:
    """The whole agent (run_agent) in this loop as NODE, on `engine`, reporting to `server`;
    stopped after, and the containers it left removed."""
    (tmp_path / "manifests").mkdir()
    settings = agent_settings(
        server,
        tmp_path,
        manifest_dir=str(tmp_path / "manifests"),
        runtime_socket=engine.socket_path,
        listen=f"127.0.0.1:{free_port()}",
    )
    async with running_agent(settings, engine) as state:
        yield state


def sleeper_pod(name: str, image: str, *, pull: str = "Never", **spec: Any) -> Obj:
    """A pod bound to NODE that sleeps (host network, 1 s grace); `spec` adds fields."""
    container = {
        "name": "c",
        "image": image,
        "imagePullPolicy": pull,
        "command": ["/bin/sleep", "3600"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "hostNetwork": True,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
            **spec,
        },
    }
