"""FakeRuntime acts as the agent expects: pull policies, lifecycle, events, injected errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nodeagent.runtime.fake import FakeRuntime
from nodeagent.runtime.protocol import (
    ContainerState,
    ExecResult,
    ImagePullError,
    PodContext,
    Runtime,
    RuntimeError_,
    RuntimeUnavailable,
)

POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "default", "uid": "0123456789abcdef"},
    "spec": {"containers": [{"name": "app", "image": "busybox:1"}]},
}
CTX = PodContext(node_name="n1", host_ip="10.0.0.1", source="file", spec_hash="h1", volume_dir="/v")


async def test_pull_policies() -> None:
    """Never fails on a missing image, IfNotPresent pulls once, Always pulls every time."""
    rt = FakeRuntime(unpullable={"bad:1"})
    with pytest.raises(ImagePullError) as never:
        await rt.ensure_image("busybox:1", pull_policy="Never")
    assert never.value.reason == "ErrImageNeverPull"
    await rt.ensure_image("busybox:1", pull_policy="IfNotPresent")
    await rt.ensure_image("busybox:1", pull_policy="IfNotPresent")
    await rt.ensure_image("busybox:1", pull_policy="Always")
    assert rt.pulled == ["busybox:1", "busybox:1"]
    with pytest.raises(ImagePullError) as bad:
        await rt.ensure_image("bad:1", pull_policy="Always")
    assert bad.value.reason == "ErrImagePull"


async def test_lifecycle_labels_and_events() -> None:
    """Containers carry the pod's labels; start, exit and stop show in state and events."""
    rt = FakeRuntime()
    events = rt.events()
    sandbox = await rt.create_sandbox(POD, CTX)
    cid, warnings = await rt.create_container(
        POD, POD["spec"]["containers"][0], CTX, attempt=0, is_init=False
    )
    assert warnings == []
    await rt.start_container(cid)
    rt.now += 5
    rt.exit_container(cid, 3, oom=True)
    infos = {c.id: c for c in await rt.list_containers()}
    assert infos[sandbox].is_sandbox
    assert infos[sandbox].pod_ip
    app = infos[cid]
    assert (app.pod_uid, app.container_name, app.spec_hash, app.source) == (
        "0123456789abcdef",
        "app",
        "h1",
        "file",
    )
    assert (app.state, app.exit_code, app.oom_killed) == (ContainerState.EXITED, 3, True)
    assert app.finished_at == app.started_at + 5  # type: ignore[operator]
    assert app.engine_name == "k8s_app_web_default_01234567_0"
    seen = [await asyncio.wait_for(anext(events), 1) for _ in range(6)]
    assert [e.action for e in seen if e.container_id == cid] == ["create", "start", "oom", "die"]
    await rt.stop_container(sandbox, grace_seconds=0)
    await rt.remove_container(cid)
    assert [c.id for c in await rt.list_containers()] == [sandbox]


async def test_injected_errors_exec_and_logs() -> None:
    """inject_error raises for the given number of calls; exec and logs answer from test data."""
    rt = FakeRuntime(exec_handler=lambda cid, cmd: ExecResult(exit_code=len(cmd), output=b"x"))
    rt.inject_error("ping", RuntimeUnavailable("down"), times=2)
    for _ in range(2):
        with pytest.raises(RuntimeUnavailable):
            await rt.ping()
    assert (await rt.ping()).name == "fake"
    cid, _ = await rt.create_container(
        POD, {"name": "a", "image": "i"}, CTX, attempt=1, is_init=True
    )
    await rt.start_container(cid)
    assert (await rt.exec(cid, ["a", "b"], timeout=1)).exit_code == 2
    rt.logs_of[cid] = b"1\n2\n3\n"
    assert await rt.logs(cid, tail=2) == b"2\n3\n"
    assert rt.names_called().count("ping") == 3


def test_fake_is_a_runtime() -> None:
    """FakeRuntime satisfies the Runtime protocol (checked by mypy on this line)."""
    runtime: Runtime = FakeRuntime()
    assert runtime is not None


async def test_sandbox_goes_last_as_on_podman() -> None:
    """Like podman, the fake refuses to remove a sandbox before its pod's containers, and lists
    containers before sandboxes so that removing in list order works."""
    rt = FakeRuntime()
    sandbox = await rt.create_sandbox(POD, CTX)
    cid, _ = await rt.create_container(
        POD, {"name": "a", "image": "i"}, CTX, attempt=0, is_init=False
    )
    with pytest.raises(RuntimeError_) as error:
        await rt.remove_container(sandbox)
    assert error.value.reason == "SandboxInUse"
    assert [c.id for c in await rt.list_containers()] == [cid, sandbox]
    for info in await rt.list_containers():
        await rt.remove_container(info.id)
    assert rt.containers == {}
