"""Fixtures for runtime tests: a DockerRuntime per test (its own node name) and pod helpers."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.runtime.docker import DockerRuntime, connect_runtime
from nodeagent.runtime.protocol import ContainerInfo, ContainerState, ExecSession, PodContext
from tests.support.podman import PodmanService
from tests.support.wait import wait_for

_counter = itertools.count()


@pytest.fixture
async def runtime(podman_service: PodmanService) -> AsyncIterator[DockerRuntime]:
    """A DockerRuntime on the shared service that sees only this test's containers."""
    rt = await connect_runtime(podman_service.socket_path, node_name=f"node-{uuid.uuid4().hex[:8]}")
    yield rt
    # containers before their sandbox: podman refuses to remove a sandbox others depend on
    for info in sorted(await rt.list_containers(), key=lambda i: i.is_sandbox):
        await rt.remove_container(info.id)
    await rt.close()


def make_pod(containers: list[Obj], **spec: Any) -> Obj:
    """A pod with a unique name and uid; grace 1 s unless the test says otherwise."""
    n = next(_counter)
    return {
        "metadata": {"name": f"pod{n}", "namespace": "default", "uid": uuid.uuid4().hex},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": containers, **spec},
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningPod:
    pod: Obj
    ctx: PodContext
    ids: dict[str, str]  # container name -> id
    warnings: dict[str, list[str]]


async def run_pod(rt: DockerRuntime, pod: Obj, volume_dir: Path) -> RunningPod:
    """Do what the agent does: sandbox, then create and start each container."""
    ctx = PodContext(
        node_name=rt.node_name or "",
        host_ip="127.0.0.1",
        source="file",
        spec_hash="hash1",
        volume_dir=str(volume_dir),
    )
    sandbox = await rt.create_sandbox(pod, ctx)
    sandbox_info = await info_of(rt, sandbox)
    ctx = replace(ctx, sandbox_id=sandbox, pod_ip=sandbox_info.pod_ip)
    ids: dict[str, str] = {"": sandbox}
    warnings: dict[str, list[str]] = {}
    for container in pod["spec"]["containers"]:
        await rt.ensure_image(container["image"], pull_policy="IfNotPresent")
        cid, warned = await rt.create_container(pod, container, ctx, attempt=0, is_init=False)
        await rt.start_container(cid)
        ids[container["name"]] = cid
        warnings[container["name"]] = list(warned)
    return RunningPod(pod=pod, ctx=ctx, ids=ids, warnings=warnings)


async def info_of(rt: DockerRuntime, container_id: str) -> ContainerInfo:
    infos = {i.id: i for i in await rt.list_containers()}
    return infos[container_id]


async def wait_exited(rt: DockerRuntime, container_id: str, timeout: float = 15) -> ContainerInfo:
    async def exited() -> ContainerInfo | None:
        info = await info_of(rt, container_id)
        return info if info.state is ContainerState.EXITED else None

    return await wait_for(exited, timeout=timeout, message=f"{container_id[:12]} exits")


async def drain(session: ExecSession) -> list[tuple[int, bytes]]:
    """Every (channel, bytes) an exec or attach session gives until its output ends."""
    chunks = []
    async with asyncio.timeout(30):
        while (chunk := await session.read()) is not None:
            chunks.append(chunk)
    return chunks
