"""Builders for the agent's unit tests: pods and observed containers as plain values."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.agent.executor import Executor
from nodeagent.agent.probers import Prober
from nodeagent.agent.reconciler import Reconciler
from nodeagent.agent.state import AgentState
from nodeagent.api.bodies import Obj
from nodeagent.runtime.fake import FakeRuntime
from nodeagent.runtime.protocol import ContainerInfo, ContainerState

UID = "uid-1"


def pod(
    *,
    uid: str = UID,
    name: str = "web",
    containers: tuple[str, ...] = ("app",),
    init: tuple[str, ...] = (),
    restart_policy: str = "Always",
    **spec: Any,
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 5,
            "initContainers": [{"name": n, "image": "busybox:1"} for n in init],
            "containers": [{"name": n, "image": "busybox:1"} for n in containers],
            **spec,
        },
    }


def desired(p: Obj, *, spec_hash: str = "h1", terminating: bool = False) -> dict[str, DesiredPod]:
    d = DesiredPod(pod=p, spec_hash=spec_hash, terminating=terminating)
    return {d.uid: d}


def container(
    name: str,
    *,
    cid: str | None = None,
    uid: str = UID,
    state: ContainerState = ContainerState.RUNNING,
    attempt: int = 0,
    exit_code: int | None = None,
    spec_hash: str = "h1",
    is_init: bool = False,
    is_sandbox: bool = False,
    started_at: float = 1000.0,
    finished_at: float | None = None,
    pod_name: str = "web",
    oom: bool = False,
) -> ContainerInfo:
    return ContainerInfo(
        id=cid or f"{uid}-{name or 'sandbox'}-{attempt}",
        engine_name=f"k8s_{name}_{pod_name}",
        pod_namespace="default",
        pod_name=pod_name,
        pod_uid=uid,
        container_name=name,
        is_sandbox=is_sandbox,
        is_init=is_init,
        source="file",
        spec_hash=spec_hash,
        attempt=attempt,
        image="busybox:1",
        image_id="sha256:abc",
        state=state,
        exit_code=exit_code,
        started_at=started_at,
        finished_at=finished_at,
        oom_killed=oom,
        pod_ip="10.88.0.5" if is_sandbox else "",
    )


def sandbox(*, uid: str = UID, state: ContainerState = ContainerState.RUNNING) -> ContainerInfo:
    return container("", uid=uid, is_sandbox=True, state=state)


def exited(
    name: str, code: int, *, attempt: int = 0, finished_at: float = 2000.0, **kw: Any
) -> ContainerInfo:
    return container(
        name,
        state=ContainerState.EXITED,
        exit_code=code,
        attempt=attempt,
        finished_at=finished_at,
        **kw,
    )


def reconciler(fake: FakeRuntime, tmp: str) -> Reconciler:
    """The reconcile loop over `fake` on its clock; the executor queues its events on the
    state, as the daemon wires it."""
    state = AgentState(node_name="n1")
    executor = Executor(
        runtime=fake,
        node_name="n1",
        host_ip="192.0.2.1",
        state_dir=tmp,
        clock=lambda: fake.now,
        on_event=state.record_pod_event,
    )
    return Reconciler(
        runtime=fake,
        state=state,
        executor=executor,
        prober=Prober(runtime=fake, host_ip="192.0.2.1"),
        host_ip="192.0.2.1",
        clock=lambda: fake.now,
    )
