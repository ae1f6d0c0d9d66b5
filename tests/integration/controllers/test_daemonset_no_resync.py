"""The DaemonSet controller rolls out on watch events alone: the periodic resync switched off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodeagent.api import meta
from nodeagent.server.controllers.daemonset.controller import DaemonSetController
from tests.integration.controllers.fleet import Fleet, daemonset_manifest, node_of
from tests.support.server import running_server
from tests.support.wait import wait_for

SEL = "name=fluentd"
TIMEOUT = 20.0
NODES = {"n1", "n2", "n3", "n4"}


async def _never(self: DaemonSetController) -> None:
    await asyncio.Event().wait()


@pytest.fixture
async def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Fleet]:
    """A server whose DaemonSet controller never resyncs: only events can move it."""
    monkeypatch.setattr(DaemonSetController, "_resync", _never)
    async with running_server(tmp_path / "data") as server, server.session() as http:
        yield Fleet(server, http)


async def _rolled_out(fleet: Fleet, image: str) -> bool:
    """Play the agents one round; True once every node has one Ready pod with `image`."""
    pods = await fleet.live_pods(SEL)
    done = sorted(node_of(p) for p in pods) == sorted(NODES) and all(
        p["spec"]["containers"][0]["image"] == image and meta.is_pod_ready(p) for p in pods
    )
    if not done:
        await fleet.agents_step(SEL)
    return done


@pytest.mark.parametrize("max_unavailable", [1, "100%"])
async def test_rollout_proceeds_on_pod_readiness_without_resync(
    fleet: Fleet, max_unavailable: int | str
) -> None:
    """Each pod the agents report Ready (or confirm gone) moves the rollout on, one node at a
    time or all at once, with no resync to fall back on."""
    for name in sorted(NODES):
        await fleet.add_node(name)
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable}}
    await fleet.create_ds(daemonset_manifest(strategy=strategy))
    await wait_for(lambda: _rolled_out(fleet, "busybox:v1"), timeout=TIMEOUT, message="created")
    await fleet.set_image("fluentd", "busybox:v2")
    await wait_for(
        lambda: _rolled_out(fleet, "busybox:v2"),
        timeout=TIMEOUT,
        interval=0.02,
        message="rolled out without a resync",
    )
