"""Run a real agent in-process against the session's podman service, with its own dirs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nodeagent.agent.daemon import run_agent
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.state import AgentState
from nodeagent.agent.tmpfs import unmount_under
from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService
from tests.support.server import ServerInfo
from tests.support.wait import wait_for

_names = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pod_yaml(
    name: str, image: str, *, script: str = "", host_network: bool = True, **extra: Any
) -> str:
    """A static pod manifest whose container handles TERM and sleeps (JSON is valid YAML)."""
    script = script or "trap 'exit 0' TERM; while true; do sleep 0.2; done"
    container: Obj = {"name": "main", "image": image, "command": ["/bin/sh", "-c", script]}
    container.update(extra)
    spec: Obj = {"terminationGracePeriodSeconds": 2, "containers": [container]}
    if host_network:
        spec["hostNetwork"] = True
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})


@dataclass
class Agent:
    settings: AgentSettings
    state: AgentState
    task: asyncio.Task[None] | None = None
    stop_event: asyncio.Event | None = None

    @property
    def manifests(self) -> Path:
        return Path(self.settings.manifest_dir)

    async def start(self) -> None:
        self.stop_event = asyncio.Event()
        self.state = AgentState(node_name=self.settings.node_name)
        self.task = asyncio.create_task(
            run_agent(self.settings, stop=self.stop_event, state=self.state)
        )

    async def stop(self) -> None:
        if self.task is None or self.stop_event is None:
            return
        self.stop_event.set()
        task, self.task = self.task, None
        _done, pending = await asyncio.wait({task}, timeout=20)
        if pending:  # name what is stuck, then fail the test
            stacks = []
            for t in asyncio.all_tasks():
                frames = t.get_stack(limit=3)
                where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames)
                stacks.append(f"{t.get_name()}: {where}")
            task.cancel()
            raise AssertionError("the agent did not stop within 20 s:\n" + "\n".join(stacks))
        task.result()

    async def serving_url(self) -> str:
        """https://127.0.0.1:PORT of the TLS serving port, once it is open (needs a server)."""
        port = await wait_for(
            lambda: self.state.serving_port or None, timeout=30, message="the serving port opens"
        )
        return f"https://127.0.0.1:{port}"

    async def get(self, path: str) -> tuple[int, str]:
        url = f"http://{self.settings.listen}{path}"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            return resp.status, await resp.text()

    async def pods_view(self) -> Obj:
        status, body = await self.get("/pods")
        assert status == 200, body
        result: Obj = json.loads(body)
        return result

    async def pod(self, name: str) -> Obj | None:
        """The static pod `name` (named name-node) as /pods shows it."""
        return await self.pod_named(f"{name}-{self.settings.node_name}")

    async def pod_named(self, full_name: str) -> Obj | None:
        view = await self.pods_view()
        return next((p for p in view["pods"] if p["name"] == full_name), None)


def joined_to(srv: ServerInfo, directory: Path) -> Obj:
    """The settings that join an agent to `srv` (its join secret, CA, URL): with them the
    agent gets a serving certificate and opens its TLS serving port."""
    secret = directory / "join-secret"
    secret.write_text(srv.join_secret + "\n")
    return {"server_url": srv.url, "token_file": str(secret), "ca_file": str(srv.ca_file)}


@pytest.fixture
async def make_agent(
    podman_service: PodmanService, tmp_path: Path
) -> AsyncIterator[Callable[..., Agent]]:
    """Build agents (not started) on the shared podman; each node name is unique."""
    agents: list[Agent] = []

    def make(**changes: Any) -> Agent:
        n = next(_names)
        values: Obj = {
            "node_name": f"it-agent-{n}-{tmp_path.name[-12:].lower().replace('_', '-')}",
            "manifest_dir": str(tmp_path / f"manifests{n}"),
            "state_dir": str(tmp_path / f"state{n}"),
            "runtime_socket": podman_service.socket_path,
            "listen": f"127.0.0.1:{free_port()}",
            "serving_listen": "127.0.0.1:0",  # any free port (AgentState.serving_port)
            "file_check_interval": 2.0,
            # no resync within a test: events and timers alone must drive every reaction
            "sync_interval": 3600.0,
        }
        values.update(changes)
        Path(values["manifest_dir"]).mkdir(parents=True, exist_ok=True)
        agent = Agent(
            settings=AgentSettings(**values), state=AgentState(node_name=values["node_name"])
        )
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        with contextlib.suppress(Exception):
            await agent.stop()
    for agent in agents:  # the agent leaves containers running on stop: clean them up
        podman_service.remove_node_containers(agent.settings.node_name)
        unmount_under(Path(agent.settings.state_dir))  # and its pods' secret volumes' tmpfs
