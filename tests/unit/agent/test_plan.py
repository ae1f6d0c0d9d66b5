"""The pure reconcile plan: observed containers + desired pods -> the actions kubelet would take."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.agent.actions import (
    Action,
    CreateSandbox,
    RemoveContainers,
    StartContainer,
    StopContainers,
    Waiting,
)
from nodeagent.agent.backoff import BackoffEntry, record_restart
from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.agent.plan import START_KEY_PREFIX, plan
from nodeagent.agent.probes import ProbeKind, ProbeState
from nodeagent.runtime.protocol import ContainerInfo, ContainerState

from .helpers import UID, container, desired, exited, pod, sandbox

NOW = 10_000.0


def run(
    desired_pods: dict[str, DesiredPod],
    observed: list[ContainerInfo],
    *,
    restarts: dict[Any, BackoffEntry] | None = None,
    probes: dict[Any, ProbeState] | None = None,
    now: float = NOW,
) -> list[Action]:
    return plan(
        desired=desired_pods,
        observed=observed,
        restarts=restarts or {},
        probes=probes or {},
        now=now,
    )


def kinds(actions: list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_new_pod_gets_a_sandbox_then_its_container() -> None:
    """A pod with nothing running gets a sandbox and its first container attempt."""
    assert run(desired(pod()), []) == [
        CreateSandbox(pod_uid=UID),
        StartContainer(pod_uid=UID, container_name="app", attempt=0),
    ]


def test_host_network_pod_needs_no_sandbox() -> None:
    """hostNetwork pods share the host's network: no sandbox container."""
    assert kinds(run(desired(pod(hostNetwork=True)), [])) == ["StartContainer"]


def test_adopted_running_containers_are_left_alone() -> None:
    """A restarted agent finds its containers (same spec hash) and does nothing to them."""
    assert run(desired(pod()), [sandbox(), container("app", attempt=3)]) == []


def test_changed_spec_replaces_the_whole_pod() -> None:
    """Containers from another spec hash are stopped (pod grace, sandbox at once) and removed."""
    observed = [sandbox(), container("app", spec_hash="old")]
    actions = run(desired(pod()), observed)
    assert actions == [
        StopContainers(
            pod_uid=UID, container_ids=(observed[1].id,), grace_seconds=5, reason="SpecChanged"
        ),
        StopContainers(
            pod_uid=UID, container_ids=(observed[0].id,), grace_seconds=0, reason="SpecChanged"
        ),
        RemoveContainers(pod_uid=UID, container_ids=(observed[1].id, observed[0].id)),
    ]


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 137, True),
        ("Never", 1, False),
        ("Never", 0, False),
    ],
)
def test_restart_policy_decides_whether_a_dead_container_runs_again(
    policy: str, code: int, restarts: bool
) -> None:
    """restartPolicy Always / OnFailure / Never applied to an exited container."""
    actions = run(desired(pod(restart_policy=policy)), [sandbox(), exited("app", code, attempt=2)])
    expected = [StartContainer(pod_uid=UID, container_name="app", attempt=3, restart=True)]
    assert actions == (expected if restarts else [])


def test_crash_loop_waits_out_the_backoff_then_restarts() -> None:
    """After a restart, the next death waits `delay` from its finish time (CrashLoopBackOff)."""
    state = record_restart({}, (UID, "app"), now=NOW - 20)  # delay 10 s
    state = record_restart(state, (UID, "app"), now=NOW - 5)  # delay 20 s
    dead = [sandbox(), exited("app", 1, attempt=2, finished_at=NOW - 4)]
    actions = run(desired(pod()), dead, restarts=state)
    assert kinds(actions) == ["Waiting"]
    assert isinstance(actions[0], Waiting)
    assert actions[0].reason == "CrashLoopBackOff"
    assert "back-off 20s" in actions[0].message
    later = run(desired(pod()), dead, restarts=state, now=NOW + 17)
    assert later == [StartContainer(pod_uid=UID, container_name="app", attempt=3, restart=True)]


def test_backoff_resets_after_ten_minutes_running() -> None:
    """A container that ran for more than 10 minutes restarts at once when it dies."""
    state = record_restart({}, (UID, "app"), now=NOW - 700)
    dead = [sandbox(), exited("app", 1, attempt=1, finished_at=NOW - 1)]
    assert kinds(run(desired(pod()), dead, restarts=state)) == ["StartContainer"]


def test_failed_pull_backs_off_with_image_pull_backoff() -> None:
    """A failed image pull is retried only after its backoff, shown as ImagePullBackOff."""
    key = (UID, START_KEY_PREFIX + "app")
    state = record_restart({}, key, now=NOW - 6, reason="ErrImagePull", message="no such image")
    actions = run(desired(pod()), [sandbox()], restarts=state)
    assert isinstance(actions[0], Waiting)
    assert actions[0].reason == "ImagePullBackOff"
    assert kinds(run(desired(pod()), [sandbox()], restarts=state, now=NOW + 9)) == [
        "StartContainer"
    ]


def test_failed_liveness_probe_kills_the_container() -> None:
    """failureThreshold consecutive liveness failures stop the container (it restarts later)."""
    p = pod()
    p["spec"]["containers"][0]["livenessProbe"] = {
        "exec": {"command": ["false"]},
        "failureThreshold": 2,
    }
    app = container("app")
    failing = {(app.id, ProbeKind.LIVENESS): ProbeState(result=False, failures=2)}
    actions = run(desired(p), [sandbox(), app], probes=failing)
    assert actions == [
        StopContainers(pod_uid=UID, container_ids=(app.id,), grace_seconds=5, reason="Unhealthy")
    ]
    passing = {(app.id, ProbeKind.LIVENESS): ProbeState(result=True, failures=1)}
    assert run(desired(p), [sandbox(), app], probes=passing) == []


def _init(
    name: str, state: ContainerState, code: int | None = None, attempt: int = 0
) -> ContainerInfo:
    return container(
        name, is_init=True, state=state, exit_code=code, attempt=attempt, finished_at=NOW - 100
    )


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ([], StartContainer(pod_uid=UID, container_name="a", attempt=0, is_init=True)),
        ([_init("a", ContainerState.RUNNING)], None),
        (
            [_init("a", ContainerState.EXITED, 0)],
            StartContainer(pod_uid=UID, container_name="b", attempt=0, is_init=True),
        ),
        (
            [_init("a", ContainerState.EXITED, 1)],
            StartContainer(pod_uid=UID, container_name="a", attempt=1, is_init=True, restart=True),
        ),
        (
            [_init("a", ContainerState.EXITED, 0), _init("b", ContainerState.EXITED, 0)],
            StartContainer(pod_uid=UID, container_name="app", attempt=0),
        ),
    ],
)
def test_init_containers_run_in_order_each_to_success(
    observed: list[ContainerInfo], expected: Action | None
) -> None:
    """Init containers go one at a time; app containers start only after all succeeded."""
    actions = run(desired(pod(init=("a", "b"))), [sandbox(), *observed])
    assert actions == ([expected] if expected else [])


def test_failed_init_container_with_restart_never_stops_the_pod() -> None:
    """restartPolicy Never: a failed init container is not retried and no app container starts."""
    observed = [sandbox(), _init("a", ContainerState.EXITED, 1)]
    assert run(desired(pod(init=("a",), restart_policy="Never")), observed) == []


def test_pod_no_longer_desired_is_stopped_with_its_grace_and_removed() -> None:
    """A terminating pod: stop apps with its grace period, the sandbox at once, remove all."""
    observed = [sandbox(), container("app")]
    actions = run(desired(pod(), terminating=True), observed)
    assert kinds(actions) == ["StopContainers", "StopContainers", "RemoveContainers"]
    assert isinstance(actions[0], StopContainers)
    assert actions[0].grace_seconds == 5
    assert isinstance(actions[2], RemoveContainers)
    assert actions[2].pod_gone


def test_deletion_grace_period_wins_over_the_spec() -> None:
    """A pod deleted with --grace-period=2 is stopped with 2 s."""
    p = pod()
    p["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", deletionGracePeriodSeconds=2)
    actions = run(desired(p), [sandbox(), container("app")])
    assert isinstance(actions[0], StopContainers)
    assert actions[0].grace_seconds == 2


def test_orphaned_containers_are_removed() -> None:
    """Containers of ours whose pod nothing desires are stopped and removed."""
    orphan = container("app", uid="gone")
    actions = run({}, [orphan])
    assert kinds(actions) == ["StopContainers", "RemoveContainers"]
    assert isinstance(actions[1], RemoveContainers)
    assert actions[1].container_ids == (orphan.id,)


def test_replacement_pod_waits_until_the_old_one_is_gone() -> None:
    """A new uid with the same name (edited static pod) starts only after the old containers
    go, and those are stopped only once the new pod's images are present."""
    new = desired(pod(uid="uid-2"), spec_hash="h2")
    old = desired(pod(), terminating=True)
    actions = plan(
        desired={**old, **new}, observed=[sandbox(), container("app")], restarts={},
        probes={}, now=NOW, pulled={"uid-2": "h2"},
    )  # fmt: skip
    assert all(a.pod_uid == UID for a in actions)
    assert kinds(actions) == ["StopContainers", "StopContainers", "RemoveContainers"]
    assert kinds(run({**old, **new}, [])) == ["CreateSandbox", "StartContainer"]


def test_dead_sandbox_restarts_the_pod() -> None:
    """Containers whose sandbox died are removed so the pod starts afresh."""
    observed = [sandbox(state=ContainerState.EXITED), container("app")]
    assert kinds(run(desired(pod()), observed)) == ["StopContainers", "RemoveContainers"]


def test_only_the_newest_dead_attempt_is_kept() -> None:
    """Older dead attempts are removed; the previous one stays for lastState."""
    observed = [
        sandbox(),
        exited("app", 1, attempt=0),
        exited("app", 1, attempt=1),
        container("app", attempt=2),
    ]
    actions = run(desired(pod()), observed)
    assert actions == [RemoveContainers(pod_uid=UID, container_ids=(observed[1].id,))]
