"""Typed keys for what the agent's HTTP applications carry (aiohttp AppKey)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from nodeagent.agent.state import AgentState
from nodeagent.runtime.protocol import Runtime

RuntimeOf = Callable[[], Runtime | None]
STATE = web.AppKey("state", AgentState)
RUNTIME_OF: web.AppKey[RuntimeOf] = web.AppKey("runtime_of")
