"""Pull before replace (agent/handover.py through plan): the old pod runs on until the pod
that replaces it has its images; a failed pull keeps it running."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.actions import Action, KeepRunning, PullImages, Waiting
from nodeagent.agent.backoff import BackoffEntry, record_restart
from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.agent.handover import HANDOVER_WAIT_SECONDS
from nodeagent.agent.plan import START_KEY_PREFIX, plan
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.runtime.protocol import ContainerInfo

from .helpers import UID, container, pod, sandbox

NOW = 1_000_000.0
OWNER = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "ds-1",
         "controller": True}  # fmt: skip


def _plan(
    pods: list[DesiredPod],
    observed: list[ContainerInfo],
    *,
    pulled: dict[str, str] | None = None,
    restarts: dict[Any, BackoffEntry] | None = None,
    now: float = NOW,
) -> list[Action]:
    return plan(
        desired={d.uid: d for d in pods}, observed=observed, restarts=restarts or {},
        probes={}, now=now, pulled=pulled or {},
    )  # fmt: skip


def _daemon_pod(uid: str, name: str, *, deleted_at: float | None = None) -> Obj:
    p = pod(uid=uid, name=name)
    p["metadata"]["ownerReferences"] = [OWNER]
    if deleted_at is not None:  # the server's deletionTimestamp is the request time + grace
        p["metadata"]["deletionTimestamp"] = format_time(deleted_at + 1)
        p["metadata"]["deletionGracePeriodSeconds"] = 1
    return p


OLD_RUNNING = [sandbox(), container("app")]


def test_an_edited_static_pod_pulls_its_new_image_before_the_old_one_stops() -> None:
    """The old pod keeps running (KeepRunning) while the new one's images are pulled."""
    old = DesiredPod(pod=pod(), spec_hash="h1", terminating=True)
    new = DesiredPod(pod=pod(uid="uid-2"), spec_hash="h2")
    assert _plan([old, new], OLD_RUNNING) == [
        KeepRunning(pod_uid=UID, successor_uid="uid-2"),
        PullImages(pod_uid="uid-2", spec_hash="h2"),
    ]


def test_a_failed_pull_keeps_the_old_pod_running_and_shows_on_the_new_one() -> None:
    """ErrImagePull backs off on the new pod (its containers wait); the old one runs on."""
    old = DesiredPod(pod=pod(), spec_hash="h1", terminating=True)
    new = DesiredPod(pod=pod(uid="uid-2"), spec_hash="h2")
    failed = record_restart({}, ("uid-2", START_KEY_PREFIX + "app"), now=NOW,
                            reason="ErrImagePull", message="manifest unknown")  # fmt: skip
    actions = _plan([old, new], OLD_RUNNING, restarts=failed, now=NOW + 1)
    assert actions[0] == KeepRunning(pod_uid=UID, successor_uid="uid-2")
    assert [(type(a), a.pod_uid) for a in actions[1:]] == [(Waiting, "uid-2")]
    wait = actions[1]
    assert isinstance(wait, Waiting)
    assert wait.reason == "ErrImagePull"


def test_a_new_daemon_pod_replaces_the_old_one_once_its_images_are_here() -> None:
    """Same controller owner, another name: with the images present the old pod is stopped,
    and the new one waits until its containers are gone."""
    old = DesiredPod(pod=_daemon_pod(UID, "ds-a", deleted_at=NOW - 1), spec_hash="h1")
    new = DesiredPod(pod=_daemon_pod("uid-2", "ds-b"), spec_hash="h2")
    actions = _plan([old, new], OLD_RUNNING, pulled={"uid-2": "h2"})
    assert {a.pod_uid for a in actions} == {UID}
    assert [type(a).__name__ for a in actions] == [
        "StopContainers", "StopContainers", "RemoveContainers",
    ]  # fmt: skip
    assert [type(a).__name__ for a in _plan([old, new], [])] == [
        "CreateSandbox", "StartContainer",
    ]  # fmt: skip


def test_a_deleted_daemon_pod_waits_a_moment_for_its_successor() -> None:
    """Deleted on the server with no successor yet (the DaemonSet controller creates it once
    the old pod is gone): kept for HANDOVER_WAIT_SECONDS from the delete, then stopped."""
    old = DesiredPod(pod=_daemon_pod(UID, "ds-a", deleted_at=NOW), spec_hash="h1")
    assert _plan([old], OLD_RUNNING, now=NOW + 1) == [
        KeepRunning(pod_uid=UID, successor_uid=None, recheck_at=NOW + HANDOVER_WAIT_SECONDS)
    ]
    late = _plan([old], OLD_RUNNING, now=NOW + HANDOVER_WAIT_SECONDS)
    assert "StopContainers" in [type(a).__name__ for a in late]


def test_a_deleted_bare_pod_is_stopped_at_once() -> None:
    """No controller owner (kubectl delete of a bare pod): stopped as kubelet does."""
    p = pod()
    p["metadata"]["deletionTimestamp"] = format_time(NOW + 1)
    old = DesiredPod(pod=p, spec_hash="h1")
    assert "StopContainers" in [type(a).__name__ for a in _plan([old], OLD_RUNNING)]
