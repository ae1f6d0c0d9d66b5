"""Pod status as kubectl shows it: phase, conditions, container states and restart counts."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.podstatus import WaitingReason, pod_status, qos_class
from nodeagent.agent.probes import ProbeKind, ProbeState
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.runtime.protocol import ContainerInfo, ContainerState

from .helpers import container, exited, pod, sandbox

NOW = 1_800_000_000.0


def status(p: Obj, observed: list[ContainerInfo], **kw: Any) -> Obj:
    args: Obj = {
        "results": {},
        "waiting": {},
        "previous": None,
        "host_ip": "192.0.2.1",
        "now": NOW,
    }
    args.update(kw)
    return pod_status(pod=p, containers=observed, **args)


def cond(s: Obj, ctype: str) -> str:
    return str(next(c["status"] for c in s["conditions"] if c["type"] == ctype))


def test_nothing_started_is_pending_with_container_creating() -> None:
    """Before any container exists the pod is Pending, its container waiting ContainerCreating."""
    s = status(pod(), [])
    assert s["phase"] == "Pending"
    assert s["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert cond(s, "Ready") == "False"
    assert cond(s, "PodScheduled") == "True"
    assert s["qosClass"] == "BestEffort"


def test_running_container_is_ready_without_readiness_probe() -> None:
    """A running container with no readiness probe is ready; the pod is Running and Ready."""
    s = status(pod(), [sandbox(), container("app", attempt=2)])
    c = s["containerStatuses"][0]
    assert s["phase"] == "Running"
    assert cond(s, "Ready") == "True"
    assert c["ready"]
    assert c["started"]
    assert c["restartCount"] == 2
    assert c["containerID"].startswith("docker://")
    assert "running" in c["state"]
    assert s["podIP"] == "10.88.0.5"
    assert s["hostIP"] == "192.0.2.1"


def test_readiness_probe_gates_ready() -> None:
    """Ready follows the readiness probe's result."""
    p = pod()
    p["spec"]["containers"][0]["readinessProbe"] = {"exec": {"command": ["true"]}}
    app = container("app")
    assert cond(status(p, [sandbox(), app]), "Ready") == "False"
    ok = {(app.id, ProbeKind.READINESS): ProbeState(result=True)}
    assert cond(status(p, [sandbox(), app], results=ok), "Ready") == "True"


def test_crash_loop_shows_waiting_and_last_terminated_state() -> None:
    """A dead container waiting out its backoff: waiting CrashLoopBackOff, lastState terminated."""
    dead = exited("app", 1, attempt=1)
    w = {"app": WaitingReason(reason="CrashLoopBackOff", message="back-off 10s")}
    s = status(pod(), [sandbox(), dead], waiting=w)
    c = s["containerStatuses"][0]
    assert c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert c["lastState"]["terminated"]["exitCode"] == 1
    assert c["lastState"]["terminated"]["reason"] == "Error"
    assert s["phase"] == "Running"


def test_completed_pod_with_restart_never_succeeds_or_fails() -> None:
    """restartPolicy Never: all exit 0 -> Succeeded; any non-zero -> Failed; OOM is named."""
    ok = status(pod(restart_policy="Never"), [sandbox(), exited("app", 0)])
    assert ok["phase"] == "Succeeded"
    assert ok["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    bad = status(pod(restart_policy="Never"), [sandbox(), exited("app", 137, oom=True)])
    assert bad["phase"] == "Failed"
    assert bad["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"


def test_init_containers_keep_the_pod_pending_and_initializing() -> None:
    """While init containers run the pod is Pending, Initialized False, apps PodInitializing."""
    running_init = container("setup", is_init=True)
    s = status(pod(init=("setup",)), [sandbox(), running_init])
    assert s["phase"] == "Pending"
    assert cond(s, "Initialized") == "False"
    assert s["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert "running" in s["initContainerStatuses"][0]["state"]


def test_an_init_container_that_exited_zero_is_ready() -> None:
    """kubelet marks a completed init container ready (kubectl describe: `Ready: True`); one
    that failed is not."""
    done = exited("setup", 0, is_init=True)
    s = status(pod(init=("setup",)), [sandbox(), done, container("app")])
    assert s["initContainerStatuses"][0]["ready"] is True
    assert s["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    failed = exited("setup", 1, is_init=True)
    s = status(pod(init=("setup",)), [sandbox(), failed])
    assert s["initContainerStatuses"][0]["ready"] is False


def test_transition_time_kept_while_status_unchanged() -> None:
    """lastTransitionTime and startTime survive recomputation; a flip takes `now`."""
    first = status(pod(), [sandbox(), container("app")])
    again = status(pod(), [sandbox(), container("app")], previous=first, now=NOW + 60)
    assert again["conditions"] == first["conditions"]
    assert again["startTime"] == first["startTime"]
    flipped = status(
        pod(),
        [sandbox(), exited("app", 1)],
        previous=first,
        now=NOW + 60,
        waiting={"app": WaitingReason(reason="CrashLoopBackOff")},
    )
    ready = next(c for c in flipped["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["lastTransitionTime"] != first["conditions"][2]["lastTransitionTime"]


def test_qos_class() -> None:
    """Guaranteed when limits equal requests for cpu and memory; Burstable otherwise."""
    g = {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}
    b = {"containers": [{"resources": {"requests": {"cpu": "100m"}}}]}
    assert qos_class(g) == "Guaranteed"
    assert qos_class(b) == "Burstable"
    assert ContainerState.RUNNING.value == "running"


def test_start_time_survives_an_agent_restart() -> None:
    """A restarted agent (no status of its own yet) keeps the server's startTime; a pod no
    server holds takes its earliest container start; only a pod never started takes now."""
    served = {**pod(), "status": {"startTime": "2027-01-01T00:00:00Z"}}
    assert status(served, [sandbox(), container("app")])["startTime"] == "2027-01-01T00:00:00Z"
    box = container("", is_sandbox=True, started_at=NOW - 3600)
    static = status(pod(), [box, container("app", started_at=NOW - 60)])
    assert static["startTime"] == format_time(NOW - 3600)
    assert status(pod(), [])["startTime"] == format_time(NOW)
