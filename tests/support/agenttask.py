"""The whole agent (run_agent) as a task in the test's own event loop: started, yielded,
stopped (20 s to finish, then cancelled), and the containers it left on the engine removed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from nodeagent.agent.daemon import run_agent
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.state import AgentState
from tests.support.podman import PodmanService


@contextlib.asynccontextmanager
async def running_agent(
    settings: AgentSettings, engine: PodmanService
) -> AsyncIterator[AgentState]:
    state, stop = AgentState(node_name=settings.node_name), asyncio.Event()
    task = asyncio.create_task(run_agent(settings, stop=stop, state=state))
    try:
        yield state
    finally:
        stop.set()
        _done, pending = await asyncio.wait({task}, timeout=20)
        for t in pending:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        engine.remove_node_containers(settings.node_name)
