"""DockerRuntime against a real podman API service: each pod field is checked in the container."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import urllib.request
from pathlib import Path

import pytest

from nodeagent.runtime.docker import DockerRuntime, connect_runtime, remove_pod_volumes
from nodeagent.runtime.protocol import ContainerEvent, ContainerState, RuntimeError_
from tests.integration.runtime.conftest import info_of, make_pod, run_pod, wait_exited
from tests.support.podman import PodmanService, busybox_image
from tests.support.registry import free_port
from tests.support.wait import wait_for

pytestmark = pytest.mark.podman
SH = "/bin/sh"


async def test_env_workdir_and_default_path(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """env values and fieldRefs reach the process; workingDir is its cwd; PATH is supplied."""
    env = [
        {"name": "PLAIN", "value": "v1"},
        {"name": "EXPANDED", "value": "$(PLAIN)-x"},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    pod = make_pod(
        [{"name": "c", "image": busybox, "command": ["sh", "-c", "env; pwd"],
          "workingDir": "/tmp", "env": env}]
    )  # fmt: skip
    running = await run_pod(runtime, pod, tmp_path)
    info = await wait_exited(runtime, running.ids["c"])
    assert info.exit_code == 0
    lines = (await runtime.logs(running.ids["c"])).decode().splitlines()
    assert {"PLAIN=v1", "EXPANDED=v1-x", f"NODE={runtime.node_name}", "NS=default"} <= set(lines)
    assert f"POD={pod['metadata']['name']}" in lines
    assert "HOST_IP=127.0.0.1" in lines
    assert f"POD_IP={running.ctx.pod_ip}" in lines
    assert running.ctx.pod_ip
    assert lines[-1] == "/tmp"
    assert (await runtime.logs(running.ids["c"], tail=1)) == b"/tmp\n"


async def test_command_and_args_against_image_entrypoint(
    runtime: DockerRuntime, podman_service: PodmanService, tmp_path: Path
) -> None:
    """command replaces the image's ENTRYPOINT and CMD; args alone replace only CMD."""
    image = busybox_image(
        podman_service,
        "localhost/echo:1",
        changes=('ENTRYPOINT ["/bin/echo"]', 'CMD ["from-image"]'),
    )
    cases = {
        "neither": ({}, "from-image"),
        "args": ({"args": ["from-args"]}, "from-args"),
        "command": ({"command": ["/bin/echo", "from-command"]}, "from-command"),
    }
    pod = make_pod(
        [{"name": name, "image": image, **fields} for name, (fields, _) in cases.items()]
    )
    running = await run_pod(runtime, pod, tmp_path)
    for name, (_, expected) in cases.items():
        await wait_exited(runtime, running.ids[name])
        assert (await runtime.logs(running.ids[name])).decode().strip() == expected, name


async def test_host_path_types_read_only_and_empty_dir(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """hostPath files are readable, …OrCreate types create, readOnly refuses writes, emptyDir is
    shared by the pod's containers and removed with the pod."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "motd").write_text("hello from the host\n")
    created_dir = tmp_path / "made" / "here"
    created_file = host / "new-file"
    volumes = [
        {"name": "file", "hostPath": {"path": str(host / "motd"), "type": "File"}},
        {"name": "ro", "hostPath": {"path": str(host), "type": "Directory"}},
        {"name": "mkdir", "hostPath": {"path": str(created_dir), "type": "DirectoryOrCreate"}},
        {"name": "touch", "hostPath": {"path": str(created_file), "type": "FileOrCreate"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    mounts = [
        {"name": "file", "mountPath": "/etc/motd"},
        {"name": "ro", "mountPath": "/host", "readOnly": True},
        {"name": "mkdir", "mountPath": "/made"},
        {"name": "touch", "mountPath": "/touched"},
        {"name": "scratch", "mountPath": "/scratch"},
    ]
    sleeper = ["/bin/sleep", "300"]
    pod = make_pod(
        [
            {"name": "a", "image": busybox, "command": sleeper, "volumeMounts": mounts},
            {"name": "b", "image": busybox, "command": sleeper,
             "volumeMounts": [{"name": "scratch", "mountPath": "/shared"}]},
        ],
        volumes=volumes,
    )  # fmt: skip
    running = await run_pod(runtime, pod, tmp_path / "volumes")
    a, b = running.ids["a"], running.ids["b"]
    assert created_dir.is_dir()
    assert created_file.is_file()
    cat = await runtime.exec(a, [SH, "-c", "cat /etc/motd /host/motd"], timeout=10)
    assert cat.output == b"hello from the host\n" * 2
    write_ro = await runtime.exec(a, [SH, "-c", "echo x > /host/new"], timeout=10)
    assert write_ro.exit_code != 0
    assert not (host / "new").exists()
    write = await runtime.exec(
        a, [SH, "-c", "echo shared > /scratch/f; echo x > /made/y"], timeout=10
    )
    assert write.exit_code == 0
    assert (created_dir / "y").read_text() == "x\n"
    assert (await runtime.exec(b, ["/bin/cat", "/shared/f"], timeout=10)).output == b"shared\n"
    assert (tmp_path / "volumes" / "scratch" / "f").exists()
    remove_pod_volumes(running.ctx)
    assert not (tmp_path / "volumes").exists()


async def test_wrong_host_path_type_is_a_config_error(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """A hostPath of type Directory that does not exist stops the create, naming the volume."""
    pod = make_pod(
        [{"name": "c", "image": busybox, "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
        volumes=[
            {"name": "v", "hostPath": {"path": str(tmp_path / "absent"), "type": "Directory"}}
        ],
    )
    with pytest.raises(RuntimeError_, match="volume v") as error:
        await run_pod(runtime, pod, tmp_path)
    assert error.value.reason == "CreateContainerConfigError"


async def test_containers_of_a_pod_share_localhost(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """Two containers of one pod reach each other on 127.0.0.1 (one network namespace) and
    share the pod's hostname and hostAliases."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("served\n")
    pod = make_pod(
        [
            {"name": "web", "image": busybox,
             "command": ["/bin/httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"],
             "volumeMounts": [{"name": "www", "mountPath": "/www", "readOnly": True}]},
            {"name": "client", "image": busybox, "command": ["/bin/sleep", "300"]},
        ],
        volumes=[{"name": "www", "hostPath": {"path": str(www)}}],
        hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo"]}],
    )  # fmt: skip
    running = await run_pod(runtime, pod, tmp_path / "v")

    async def fetch() -> bytes:
        result = await runtime.exec(
            running.ids["client"], ["/bin/wget", "-qO-", "http://127.0.0.1:8080/"], timeout=5
        )
        return result.output if result.exit_code == 0 else b""

    assert await wait_for(fetch, timeout=10, message="wget from the sibling") == b"served\n"
    names = await runtime.exec(
        running.ids["client"], [SH, "-c", "hostname; grep foo /etc/hosts"], timeout=5
    )
    assert names.output.split() == [pod["metadata"]["name"].encode(), b"10.1.2.3", b"foo"]


async def test_limits_and_security_context(
    runtime: DockerRuntime, busybox: str, podman_service: PodmanService, tmp_path: Path
) -> None:
    """Limits land in the engine; runAsUser, readOnlyRootFilesystem and dropped caps hold."""
    pod = make_pod(
        [{"name": "c", "image": busybox, "command": ["/bin/sleep", "300"],
          "resources": {"limits": {"cpu": "250m", "memory": "32Mi"}},
          "securityContext": {"runAsUser": 1000, "runAsGroup": 2000,
                              "readOnlyRootFilesystem": True,
                              "capabilities": {"drop": ["ALL"]}}}]
    )  # fmt: skip
    running = await run_pod(runtime, pod, tmp_path)
    cid = running.ids["c"]
    inspect = podman_service.podman(
        "inspect", "--format", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", cid
    )
    assert inspect.stdout.split() == [str(250_000_000), str(32 * 2**20)]
    ids = await runtime.exec(cid, [SH, "-c", "id -u; id -g"], timeout=10)
    assert ids.output.split() == [b"1000", b"2000"]
    write = await runtime.exec(cid, [SH, "-c", "echo x > /root-write"], timeout=10)
    assert write.exit_code != 0
    caps = await runtime.exec(cid, [SH, "-c", "grep CapEff /proc/self/status"], timeout=10)
    assert caps.output.split()[-1] == b"0000000000000000"


async def test_stop_waits_for_the_grace_period_then_kills(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """sleep as PID 1 ignores SIGTERM: it is SIGKILLed after the grace period, not before; a
    process that handles SIGTERM exits on its own."""
    trap = "trap 'exit 0' TERM; while true; do sleep 0.1; done"
    pod = make_pod(
        [
            {"name": "stubborn", "image": busybox, "command": ["/bin/sleep", "300"]},
            {"name": "polite", "image": busybox, "command": [SH, "-c", trap]},
        ],
        terminationGracePeriodSeconds=2,
    )
    running = await run_pod(runtime, pod, tmp_path)
    await asyncio.sleep(0.3)  # let the shell install its trap before the signal
    called = time.time()
    await asyncio.gather(
        runtime.stop_container(running.ids["stubborn"], grace_seconds=2),
        runtime.stop_container(running.ids["polite"], grace_seconds=2),
    )
    stubborn = await info_of(runtime, running.ids["stubborn"])
    polite = await info_of(runtime, running.ids["polite"])
    assert stubborn.state is ContainerState.EXITED
    assert stubborn.exit_code == 137  # SIGKILL
    assert stubborn.finished_at is not None
    assert stubborn.finished_at - called >= 2 - 0.05  # clock granularity only
    assert polite.exit_code == 0


async def test_events_report_death_at_once_and_exit_codes(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """The event stream reports start and die for our containers; the exit code is listed."""
    seen: list[ContainerEvent] = []

    async def follow() -> None:
        async for event in runtime.events():
            seen.append(event)

    task = asyncio.create_task(follow())
    try:
        await asyncio.sleep(0.2)  # the stream is open once the engine has answered
        pod = make_pod(
            [
                {"name": "quits", "image": busybox, "command": [SH, "-c", "sleep 0.5; exit 3"]},
                {"name": "killed", "image": busybox, "command": ["/bin/sleep", "300"]},
            ]
        )
        running = await run_pod(runtime, pod, tmp_path)
        killed = running.ids["killed"]
        await runtime.stop_container(killed, grace_seconds=0)

        def died(cid: str) -> bool:
            return any(e.container_id == cid and e.action == "die" for e in seen)

        await wait_for(lambda: died(killed), timeout=5, message="die event of the killed one")
        await wait_for(lambda: died(running.ids["quits"]), timeout=10, message="die of quits")
        assert all(e.pod_uid == pod["metadata"]["uid"] for e in seen)
        assert any(e.container_id == killed and e.action == "start" for e in seen)
        assert (await info_of(runtime, running.ids["quits"])).exit_code == 3
    finally:
        task.cancel()


async def test_exec_timeout_and_missing_container(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """An exec that outlives its timeout fails with DeadlineExceeded; unknown ids are NotFound."""
    running = await run_pod(
        runtime,
        make_pod([{"name": "c", "image": busybox, "command": ["/bin/sleep", "300"]}]),
        tmp_path,
    )
    with pytest.raises(RuntimeError_) as error:
        await runtime.exec(running.ids["c"], ["/bin/sleep", "5"], timeout=0.5)
    assert error.value.reason == "DeadlineExceeded"
    with pytest.raises(RuntimeError_) as missing:
        await runtime.logs("0" * 64)
    assert missing.value.reason == "NotFound"
    await runtime.remove_container("0" * 64)  # removing what is gone is not an error


async def test_adoption_labels_round_trip(
    runtime: DockerRuntime, busybox: str, podman_service: PodmanService, tmp_path: Path
) -> None:
    """A new runtime for the same node finds the containers with their labels; another node
    does not see them."""
    pod = make_pod([{"name": "c", "image": busybox, "command": ["/bin/sleep", "300"]}])
    running = await run_pod(runtime, pod, tmp_path)
    again = await connect_runtime(podman_service.socket_path, node_name=runtime.node_name)
    other = await connect_runtime(podman_service.socket_path, node_name="someone-else")
    try:
        infos = {i.id: i for i in await again.list_containers()}
        assert set(infos) == {running.ids["c"], running.ids[""]}
        app = infos[running.ids["c"]]
        sandbox = infos[running.ids[""]]
        assert (app.pod_uid, app.pod_name, app.pod_namespace) == (
            pod["metadata"]["uid"],
            pod["metadata"]["name"],
            "default",
        )
        assert (app.container_name, app.spec_hash, app.source, app.attempt) == (
            "c",
            "hash1",
            "file",
            0,
        )
        assert (app.is_sandbox, sandbox.is_sandbox, app.is_init) == (False, True, False)
        assert app.state is ContainerState.RUNNING
        assert app.started_at is not None
        assert app.image == busybox
        assert app.engine_name.startswith(f"k8s_c_{pod['metadata']['name']}_default_")
        assert sandbox.pod_ip == running.ctx.pod_ip
        assert not [i for i in await other.list_containers() if i.pod_uid == app.pod_uid]
    finally:
        await again.close()
        await other.close()


async def test_connect_names_every_socket_tried(tmp_path: Path) -> None:
    """No engine on the socket: RuntimeUnavailable naming it."""
    from nodeagent.runtime.protocol import RuntimeUnavailable

    missing = str(tmp_path / "nothing.sock")
    with pytest.raises(RuntimeUnavailable, match=r"nothing\.sock") as error:
        await connect_runtime(missing)
    assert error.value.reason == "ContainerRuntimeDown"


async def test_memory_limit_kills_and_oom_flag_is_the_engines(
    runtime: DockerRuntime, busybox: str, podman_service: PodmanService, tmp_path: Path
) -> None:
    """A process that outgrows limits.memory is killed (137); oom_killed is what the engine says.

    podman 4.3 with runc and cgroupfs on a v1/v2 hybrid reports OOMKilled false even then
    (docs/runtime.md), so the flag is compared with the engine's own inspect, not assumed.
    """
    hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"
    pod = make_pod(
        [{"name": "hog", "image": busybox, "command": [SH, "-c", hog],
          "resources": {"limits": {"memory": "16Mi"}}}]
    )  # fmt: skip
    running = await run_pod(runtime, pod, tmp_path)
    cid = running.ids["hog"]
    info = await wait_exited(runtime, cid, timeout=30)
    assert info.exit_code == 137
    assert b"survived" not in await runtime.logs(cid)
    engine = podman_service.podman("inspect", "--format", "{{.State.OOMKilled}}", cid)
    assert info.oom_killed == (engine.stdout.strip() == "true")


async def test_new_sandbox_for_a_pod_gets_the_next_attempt(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """When a pod's sandbox is replaced, the new one is attempt 1 with its own engine name."""
    pod = make_pod([{"name": "c", "image": busybox, "command": ["/bin/sleep", "300"]}])
    running = await run_pod(runtime, pod, tmp_path)
    await runtime.stop_container(running.ids[""], grace_seconds=0)
    second = await runtime.create_sandbox(pod, running.ctx)
    old, new = await info_of(runtime, running.ids[""]), await info_of(runtime, second)
    assert (old.attempt, new.attempt) == (0, 1)
    assert old.state is ContainerState.EXITED
    assert new.state is ContainerState.RUNNING
    assert new.engine_name.endswith("_1")
    with pytest.raises(RuntimeError_) as in_use:
        await runtime.remove_container(running.ids[""])  # "c" joined this one
    assert in_use.value.reason == "SandboxInUse"
    listed = await runtime.list_containers()
    assert [i.is_sandbox for i in listed] == [False, True, True]
    for info in listed:  # list order removes containers before their sandboxes
        await runtime.remove_container(info.id)
    assert await runtime.list_containers() == []


async def _get_async(url: str) -> bytes:
    return await asyncio.to_thread(_http_get, url)


def _http_get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bytes(response.read())
    except OSError:
        return b""


async def test_host_port_host_network_and_host_pid(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """hostPort publishes a pod port on the host; hostNetwork serves on the host's own
    addresses; hostPID shows the host's PID 1."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hi\n")
    mount = {"volumeMounts": [{"name": "www", "mountPath": "/www", "readOnly": True}]}
    volumes = [{"name": "www", "hostPath": {"path": str(www)}}]
    published, own = free_port(), free_port()
    bridged = make_pod(
        [{"name": "web", "image": busybox,
          "command": ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],
          "ports": [{"containerPort": 80, "hostPort": published}], **mount}],
        volumes=volumes,
    )  # fmt: skip
    hosted = make_pod(
        [{"name": "web", "image": busybox,
          "command": ["/bin/httpd", "-f", "-p", f"127.0.0.1:{own}", "-h", "/www"],
          "ports": [{"containerPort": own, "hostPort": own}], **mount}],
        volumes=volumes, hostNetwork=True, hostPID=True,
    )  # fmt: skip
    await run_pod(runtime, bridged, tmp_path / "v1")
    host_pod = await run_pod(runtime, hosted, tmp_path / "v2")
    for port in (published, own):
        url = f"http://127.0.0.1:{port}/"
        body = await wait_for(functools.partial(_get_async, url), timeout=10, message=url)
        assert body == b"hi\n"
    init = await runtime.exec(host_pod.ids["web"], ["/bin/cat", "/proc/1/comm"], timeout=5)
    assert init.output == Path("/proc/1/comm").read_bytes()


async def test_engine_going_away_is_runtime_unavailable(tmp_path: Path) -> None:
    """When the engine stops, ping and the event stream fail with RuntimeUnavailable (or the
    stream ends): the caller sees the engine is gone instead of waiting forever."""
    from nodeagent.runtime.protocol import RuntimeUnavailable

    service = PodmanService.start(tmp_path / "short-lived")
    rt = await connect_runtime(service.socket_path)
    try:
        stream = rt.events()
        pending = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.2)
        service.stop()
        with contextlib.suppress(RuntimeUnavailable, StopAsyncIteration):
            await asyncio.wait_for(pending, timeout=15)
        with pytest.raises(RuntimeUnavailable):
            await rt.ping()
    finally:
        service.stop()
        await rt.close()


async def test_follow_logs_streams_until_the_container_stops(
    runtime: DockerRuntime, busybox: str, tmp_path: Path
) -> None:
    """follow_logs gives each line as it is written (stdout and stderr), and ends at exit."""
    script = "echo first; sleep 1; echo second >&2; sleep 0.3"
    pod = make_pod([{"name": "c", "image": busybox, "command": [SH, "-c", script]}])
    running = await run_pod(runtime, pod, tmp_path)
    chunks = []
    async with asyncio.timeout(30):
        async for chunk in runtime.follow_logs(running.ids["c"]):
            chunks.append(chunk)
    assert b"".join(chunks) == b"first\nsecond\n"
    assert len(chunks) >= 2  # "first" came a second before "second" was written
    assert (await info_of(runtime, running.ids["c"])).state is ContainerState.EXITED
    assert b"".join([c async for c in runtime.follow_logs(running.ids["c"], tail=1)]) == b"second\n"
