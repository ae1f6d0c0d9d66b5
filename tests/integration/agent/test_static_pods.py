"""The agent on real podman: static pods from files run, are replaced, kept, removed, restarted."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.runtime.protocol import ContainerState
from tests.support.podman import PodmanService
from tests.support.wait import wait_for

from .conftest import Agent, pod_yaml

pytestmark = pytest.mark.podman


def engine_state(podman: PodmanService, cid: str) -> str:
    out = podman.podman("inspect", "--format", "{{.State.Status}}", cid, check=False)
    return out.stdout.strip() if out.returncode == 0 else "gone"


async def running(agent: Agent, name: str) -> Obj | None:
    pod = await agent.pod(name)
    if pod and pod["phase"] == "Running" and pod["containers"][-1]["state"] == "running":
        return pod
    return None


async def reconcile_passes(agent: Agent) -> float:
    body = (await agent.get("/metrics"))[1]
    line = next(
        x for x in body.splitlines() if x.startswith("nodeagent_reconcile_duration_seconds_count")
    )
    return float(line.split()[-1])


async def more_passes(agent: Agent, target: float) -> bool:
    return await reconcile_passes(agent) >= target


async def test_file_drop_edit_bad_edit_remove(
    make_agent: Callable[..., Agent], podman_service: PodmanService, busybox: str
) -> None:
    """Drop a file: it runs; edit: replaced; bad edit: the old one keeps running and is
    reported on /pods; remove: the container goes."""
    agent = make_agent()
    path = agent.manifests / "web.yaml"
    path.write_text(pod_yaml("web", busybox, host_network=False))
    await agent.start()
    pod = await wait_for(lambda: running(agent, "web"), timeout=30, message="web runs")
    first_id = pod["containers"][0]["id"]
    assert engine_state(podman_service, first_id) == "running"

    path.write_text(pod_yaml("web", busybox, host_network=False, env=[{"name": "V", "value": "2"}]))

    async def replaced() -> Obj | None:
        p = await running(agent, "web")
        return p if p and p["containers"][0]["id"] != first_id else None

    pod = await wait_for(replaced, timeout=30, message="web replaced after the edit")
    second_id = pod["containers"][0]["id"]
    assert engine_state(podman_service, first_id) == "gone"

    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [\n")

    async def rejected() -> list[Obj]:
        return [r for r in (await agent.pods_view())["rejected"] if r["origin"] == str(path)]

    [entry] = await wait_for(rejected, timeout=10, message="the bad edit shows on /pods")
    assert entry["error"].startswith(f"{path}:")
    kept = await running(agent, "web")
    assert kept is not None
    assert kept["containers"][0]["id"] == second_id
    assert engine_state(podman_service, second_id) == "running"

    path.unlink()
    await wait_for(
        lambda: engine_state(podman_service, second_id) == "gone", timeout=30, message="removed"
    )

    async def forgotten() -> bool:
        view = await agent.pods_view()
        return not view["pods"] and not view["rejected"]

    await wait_for(forgotten, timeout=10, message="/pods forgets the removed pod and its error")


async def test_killed_container_restarts_then_backs_off(
    make_agent: Callable[..., Agent], podman_service: PodmanService, busybox: str
) -> None:
    """Killing the process brings it back with restartCount 1; a second death waits in
    CrashLoopBackOff with a 10 s back-off, the third with 20 s."""
    agent = make_agent()
    (agent.manifests / "crash.yaml").write_text(pod_yaml("crash", busybox))
    await agent.start()
    pod = await wait_for(lambda: running(agent, "crash"), timeout=30, message="crash runs")
    podman_service.podman("kill", "-s", "KILL", pod["containers"][0]["id"])

    async def restarted(count: int) -> Obj | None:
        p = await running(agent, "crash")
        return p if p and p["restarts"] == count else None

    pod = await wait_for(lambda: restarted(1), timeout=20, message="restartCount 1")
    podman_service.podman("kill", "-s", "KILL", pod["containers"][0]["id"])

    async def backing_off() -> Obj | None:
        p = await agent.pod("crash")
        c = p["containers"][0] if p else None
        return c if c and c["reason"] == "CrashLoopBackOff" else None

    c = await wait_for(backing_off, timeout=10, message="CrashLoopBackOff after the second death")
    assert "back-off 10s" in c["message"]
    pod = await wait_for(lambda: restarted(2), timeout=20, message="restarted after 10 s")
    podman_service.podman("kill", "-s", "KILL", pod["containers"][0]["id"])

    async def longer() -> Obj | None:
        c = await backing_off()
        return c if c and "back-off 20s" in c["message"] else None

    await wait_for(longer, timeout=10, message="the back-off doubles to 20 s")


async def test_completed_pod_with_on_failure_succeeds(
    make_agent: Callable[..., Agent], busybox: str
) -> None:
    """restartPolicy OnFailure: a container that exits 0 is not restarted; the pod Succeeded."""
    agent = make_agent()
    manifest = json.loads(pod_yaml("job", busybox, script="echo done"))
    manifest["spec"]["restartPolicy"] = "OnFailure"
    (agent.manifests / "job.yaml").write_text(json.dumps(manifest))
    await agent.start()

    async def succeeded() -> Obj | None:
        p = await agent.pod("job")
        return p if p and p["phase"] == "Succeeded" else None

    pod = await wait_for(succeeded, timeout=30, message="the pod Succeeded")
    assert pod["restarts"] == 0
    assert pod["containers"][0]["reason"] == "Completed"


async def test_failing_liveness_probe_restarts(
    make_agent: Callable[..., Agent], busybox: str
) -> None:
    """A liveness probe that fails its threshold gets the container restarted."""
    agent = make_agent()
    probe = {"exec": {"command": ["/bin/false"]}, "periodSeconds": 1, "failureThreshold": 2}
    (agent.manifests / "sick.yaml").write_text(pod_yaml("sick", busybox, livenessProbe=probe))
    await agent.start()

    async def restarted() -> bool:
        p = await agent.pod("sick")
        return bool(p and p["restarts"] >= 1)

    await wait_for(restarted, timeout=30, message="the liveness failure restarts the container")


async def test_agent_restart_adopts_running_containers(
    make_agent: Callable[..., Agent], podman_service: PodmanService, busybox: str
) -> None:
    """Stopping the agent leaves the pod running; a new agent adopts it without a restart."""
    agent = make_agent(sync_interval=0.5)  # resync often: several passes must leave it alone
    (agent.manifests / "keep.yaml").write_text(pod_yaml("keep", busybox, host_network=False))
    await agent.start()
    pod = await wait_for(lambda: running(agent, "keep"), timeout=30, message="keep runs")
    cid, started = pod["containers"][0]["id"], pod["containers"][0]["startedAt"]
    await agent.stop()
    assert engine_state(podman_service, cid) == "running"

    await agent.start()
    pod = await wait_for(lambda: running(agent, "keep"), timeout=30, message="keep adopted")
    passes = await reconcile_passes(agent)
    await wait_for(
        lambda: more_passes(agent, passes + 3), timeout=20, message="three more reconcile passes"
    )
    adopted = await running(agent, "keep")
    assert adopted is not None
    assert adopted["containers"][0]["id"] == cid
    assert adopted["containers"][0]["startedAt"] == started
    assert adopted["restarts"] == 0


async def test_daemonset_file_runs_only_on_matching_node(
    make_agent: Callable[..., Agent], busybox: str
) -> None:
    """A DaemonSet manifest runs its template where the nodeSelector matches, nowhere else."""
    ds = (
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\nspec:\n"
        "  selector: {matchLabels: {app: ds}}\n  template:\n    metadata: {labels: {app: ds}}\n"
        "    spec:\n      hostNetwork: true\n      terminationGracePeriodSeconds: 1\n"
        "      nodeSelector: {disk: ssd}\n      containers:\n      - name: main\n"
        f"        image: {busybox}\n"
        "        command: [/bin/sh, -c, 'trap \"exit 0\" TERM; while true; do sleep 0.2; done']\n"
    )
    hdd = make_agent(labels={"disk": "hdd"})
    ssd = make_agent(labels={"disk": "ssd"})
    for agent in (hdd, ssd):
        (agent.manifests / "ds.yaml").write_text(ds)
        await agent.start()
    await wait_for(lambda: running(ssd, "ds"), timeout=30, message="ds runs on the ssd node")
    view = await hdd.pods_view()
    assert view["pods"] == []
    assert view["rejected"] == []
    assert ContainerState.RUNNING.value == "running"


async def test_init_containers_complete_before_the_app(
    make_agent: Callable[..., Agent], busybox: str
) -> None:
    """Init containers run in order to completion (each then ready, as kubelet reports a
    completed init container), then the app container starts."""
    agent = make_agent()
    init = [
        {"name": f"init{i}", "image": busybox, "command": ["/bin/sh", "-c", "exit 0"]}
        for i in (1, 2)
    ]
    manifest = json.loads(pod_yaml("boot", busybox))
    manifest["spec"]["initContainers"] = init
    (agent.manifests / "boot.yaml").write_text(json.dumps(manifest))
    await agent.start()
    pod = await wait_for(lambda: running(agent, "boot"), timeout=30, message="boot runs")
    assert [c["name"] for c in pod["containers"]] == ["init1", "init2", "main"]
    assert [c["reason"] for c in pod["containers"][:2]] == ["Completed", "Completed"]
    assert [c["ready"] for c in pod["containers"][:2]] == [True, True]
    assert pod["containers"][2]["state"] == "running"
