"""What makes a new-revision pod count as failing, and a node as unreachable."""

from __future__ import annotations

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.daemonset.health import node_unreachable, pod_problem
from tests.unit.controllers.objects import NOW, daemonset, node, pod_for


def _pod(*, ready: bool = False, created: float = NOW - 5, **status: object) -> Obj:
    pod = pod_for(daemonset(), "n0", ready=ready, created=created)
    pod["status"].update(status)
    return pod


def _waiting(reason: str, restarts: int = 0) -> list[Obj]:
    return [{"name": "main", "restartCount": restarts, "state": {"waiting": {"reason": reason}}}]


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (_pod(ready=True), None),
        (_pod(), None),  # not ready yet, well within the deadline
        (_pod(containerStatuses=_waiting("ContainerCreating")), None),
        (_pod(containerStatuses=_waiting("CrashLoopBackOff", 2)), "main CrashLoopBackOff"),
        (_pod(containerStatuses=_waiting("ErrImagePull")), "container main ErrImagePull"),
        (_pod(containerStatuses=_waiting("ImagePullBackOff")), "ImagePullBackOff"),
        (_pod(containerStatuses=_waiting("CreateContainerConfigError")), "ConfigError"),
        (
            _pod(containerStatuses=[{"name": "main", "restartCount": 1, "state": {"running": {}}}]),
            "restarted 1 time and is not ready",
        ),
        (
            _pod(ready=True, containerStatuses=[{"name": "main", "restartCount": 3}]),
            None,  # restarted once but ready now: healthy
        ),
        (_pod(created=NOW - 60), "not ready 30 s after it was created"),
        (_pod(phase="Failed", reason="Evicted"), "failed (Evicted)"),
    ],
    ids=[
        "ready", "young", "creating", "crashloop", "pull", "pull-backoff", "config",
        "restarted-not-ready", "restarted-ready", "never-ready", "failed",
    ],
)  # fmt: skip
def test_pod_problem(pod: Obj, expected: str | None) -> None:
    problem = pod_problem(pod, now=NOW, deadline=30)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem


def test_node_unreachable_by_condition_or_taint() -> None:
    healthy = node("a")
    unknown = node("b")
    unknown["status"]["conditions"][0]["status"] = "Unknown"
    tainted = node("c", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}])
    not_ready = node("d")
    not_ready["status"]["conditions"][0]["status"] = "False"
    assert [node_unreachable(n) for n in (healthy, unknown, tainted, not_ready)] == [
        False, True, True, False,
    ]  # fmt: skip
