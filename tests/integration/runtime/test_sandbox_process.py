"""The pod sandbox's PID 1 on real podman: it ends on the engine's stop signal (as Kubernetes'
pause does, so no stop waits out its kill timeout) and reaps the orphans it inherits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil

from nodeagent.runtime.docker import DockerRuntime
from nodeagent.runtime.protocol import ContainerState
from tests.integration.runtime.conftest import info_of, make_pod, run_pod, wait_exited
from tests.support.podman import PodmanService
from tests.support.wait import wait_for

SIGKILLED = 137  # 128 + 9: what the engine's kill after the stop timeout would leave


async def test_sandbox_ends_on_sigterm_not_by_the_kill(
    runtime: DockerRuntime, tmp_path: Path
) -> None:
    """Stopped as the engine stops any container (SIGTERM, SIGKILL after 10 s), the sandbox
    ends on the SIGTERM: it exits 0 as pause does, not 137 from the kill."""
    pod = await run_pod(runtime, make_pod([]), tmp_path)
    sandbox = pod.ids[""]
    assert (await info_of(runtime, sandbox)).state is ContainerState.RUNNING
    await runtime.stop_container(sandbox, grace_seconds=10)
    info = await wait_exited(runtime, sandbox)
    assert info.exit_code == 0, f"exit code {info.exit_code} (137: it ignored SIGTERM)"
    assert info.exit_code != SIGKILLED


async def test_sandbox_reaps_an_orphan_it_inherits(
    runtime: DockerRuntime, podman_service: PodmanService, tmp_path: Path
) -> None:
    """A process whose parent exits inside the pod is reparented to the sandbox's PID 1;
    once it dies it is reaped (gone from the host's process table), never left a zombie."""
    pod = await run_pod(runtime, make_pod([]), tmp_path)
    sandbox = pod.ids[""]
    inspected = podman_service.podman("inspect", "--format", "{{.State.Pid}}", sandbox)
    init = psutil.Process(int(inspected.stdout.strip()))
    own = {c.pid for c in init.children()}  # the sandbox's own long sleep
    # the exec'd shell leaves a short sleep behind and exits: the sleep is orphaned
    await asyncio.to_thread(
        podman_service.podman, "exec", sandbox, "sh", "-c", "sleep 1 >/dev/null 2>&1 & exit 0"
    )

    async def orphan() -> int | None:
        adopted = [c.pid for c in init.children() if c.pid not in own]
        return adopted[0] if adopted else None

    pid = await wait_for(orphan, timeout=10, message="the sandbox adopts the orphaned sleep")

    async def reaped() -> bool:
        return not psutil.pid_exists(pid)

    await wait_for(reaped, timeout=15, message=f"the orphan {pid} is reaped, not a zombie")
    assert (await info_of(runtime, sandbox)).state is ContainerState.RUNNING
