"""PURE pod status: desired pod, observed containers, probe results, waiting reasons -> PodStatus.

Phase, conditions, container statuses and QoS class as kubelet computes them (getPhase,
generateAPIPodStatus), from values only; `now` is wall-clock seconds for the timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nodeagent.agent import probes
from nodeagent.agent.plan import latest_attempts
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.runtime.protocol import ContainerInfo, ContainerState

CONTAINER_ID_PREFIX = "docker://"  # what kubectl shows; the engine speaks the Docker API
CONDITION_TYPES = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingReason:
    reason: str
    message: str = ""


def _ts(value: float | None) -> str | None:
    return format_time(value) if value else None


def _terminated(c: ContainerInfo) -> Obj:
    code = c.exit_code or 0
    reason = "OOMKilled" if c.oom_killed else ("Completed" if code == 0 else "Error")
    term: Obj = {"exitCode": code, "reason": reason, "containerID": CONTAINER_ID_PREFIX + c.id}
    if c.started_at:
        term["startedAt"] = _ts(c.started_at)
    if c.finished_at:
        term["finishedAt"] = _ts(c.finished_at)
    return {"terminated": term}


def _waiting(w: WaitingReason) -> Obj:
    body: Obj = {"reason": w.reason}
    if w.message:
        body["message"] = w.message
    return {"waiting": body}


def _previous(containers: Sequence[ContainerInfo], current: ContainerInfo) -> ContainerInfo | None:
    older = [
        c
        for c in containers
        if c.container_name == current.container_name
        and c.is_init == current.is_init
        and not c.is_sandbox
        and c.attempt < current.attempt
    ]
    return max(older, key=lambda c: c.attempt, default=None)


def container_status(
    *,
    spec_c: Obj,
    current: ContainerInfo | None,
    containers: Sequence[ContainerInfo],
    results: probes.ProbeResults,
    waiting: WaitingReason | None,
    default_reason: str,
) -> Obj:
    """One entry of containerStatuses / initContainerStatuses."""
    status: Obj = {
        "name": spec_c["name"],
        "image": spec_c.get("image", ""),
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": _waiting(waiting or WaitingReason(reason=default_reason)),
        "lastState": {},
    }
    if current is None:
        return status
    prev = _previous(containers, current)
    status.update(
        imageID=current.image_id,
        containerID=CONTAINER_ID_PREFIX + current.id,
        restartCount=current.attempt,
        lastState=_terminated(prev) if prev is not None else {},
    )
    if current.state is ContainerState.RUNNING:
        status["state"] = {"running": {"startedAt": _ts(current.started_at)}}
        status["started"] = probes.is_started(spec_c, results, current.id)
        status["ready"] = probes.is_ready(spec_c, results, current.id)
    elif current.state is ContainerState.EXITED and waiting is not None:
        status["state"] = _waiting(waiting)
        status["lastState"] = _terminated(current)
    elif current.state is ContainerState.EXITED:
        status["state"] = _terminated(current)
    return status


def _stopped(status: Obj) -> bool:
    return "terminated" in status["state"] or (
        "waiting" in status["state"] and "terminated" in status["lastState"]
    )


def _phase(
    restart_policy: str, init_statuses: list[Obj], statuses: list[Obj], init_done: bool
) -> str:
    """kubelet getPhase, reduced to the states this agent produces."""
    for s in init_statuses:
        term = s["state"].get("terminated") or s["lastState"].get("terminated")
        if term and term["exitCode"] != 0 and restart_policy == "Never":
            return "Failed"
    if not init_done:
        return "Pending"
    running = sum(1 for s in statuses if "running" in s["state"])
    stopped = [s for s in statuses if _stopped(s)]
    waiting = len(statuses) - running - len(stopped)
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if not stopped:
        return "Pending"
    if restart_policy == "Always":
        return "Running"

    def code(s: Obj) -> int:
        term = s["state"].get("terminated") or s["lastState"]["terminated"]
        return int(term["exitCode"])

    if all(code(s) == 0 for s in stopped):
        return "Succeeded"
    return "Running" if restart_policy == "OnFailure" else "Failed"


def qos_class(spec: Obj) -> str:
    """Guaranteed (limits = requests for cpu and memory everywhere), BestEffort, or Burstable."""
    all_c = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    resources = [c.get("resources") or {} for c in all_c]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for res in ("cpu", "memory"):
            if res not in limits or str(requests.get(res, limits[res])) != str(limits[res]):
                return "Burstable"
    return "Guaranteed"


def _condition(previous: Obj | None, ctype: str, ok: bool, now: float, reason: str = "") -> Obj:
    status = "True" if ok else "False"
    old = next(
        (c for c in (previous or {}).get("conditions") or [] if c.get("type") == ctype), None
    )
    since = old["lastTransitionTime"] if old and old.get("status") == status else format_time(now)
    cond: Obj = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since,
    }
    if not ok and reason:
        cond["reason"] = reason
    return cond


def _start_time(
    pod: Obj, containers: Sequence[ContainerInfo], previous: Obj | None, now: float
) -> str:
    """When this node first took the pod on (kubelet's startTime), kept across restarts of
    the agent: the status this process computed, else the server's copy (kubelet's status
    manager keeps the API pod's startTime), else, for a pod no server holds (a static pod),
    the earliest start of its sandbox or containers, and only for a pod never started
    before: now."""
    kept = (previous or {}).get("startTime") or (pod.get("status") or {}).get("startTime")
    if kept:
        return str(kept)
    started = [c.started_at for c in containers if c.started_at]
    return format_time(min(started) if started else now)


def pod_status(
    *,
    pod: Obj,
    containers: Sequence[ContainerInfo],
    results: probes.ProbeResults,
    waiting: Mapping[str, WaitingReason],
    previous: Obj | None,
    host_ip: str,
    now: float,
) -> Obj:
    """The PodStatus the agent reports for `pod` (containers: this pod's, any attempt)."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy", "Always")
    latest_init = latest_attempts(containers, init=True)
    latest_app = latest_attempts(containers, init=False)
    init_done = bool(latest_app) or all(
        (c := latest_init.get(ic["name"])) is not None
        and c.state is ContainerState.EXITED
        and c.exit_code == 0
        for ic in spec.get("initContainers") or []
    )
    init_statuses = [
        container_status(
            spec_c=ic,
            current=latest_init.get(ic["name"]),
            containers=containers,
            results=results,
            waiting=waiting.get(ic["name"]),
            default_reason="PodInitializing",
        )
        for ic in spec.get("initContainers") or []
    ]
    for s in init_statuses:  # kubelet's prober manager: an init container that exited 0 is ready
        term = s["state"].get("terminated")
        s["ready"] = s["ready"] or bool(term and term.get("exitCode") == 0)
    statuses = [
        container_status(
            spec_c=sc,
            current=latest_app.get(sc["name"]),
            containers=containers,
            results=results,
            waiting=waiting.get(sc["name"]),
            default_reason="ContainerCreating" if init_done else "PodInitializing",
        )
        for sc in spec.get("containers") or []
    ]
    phase = _phase(policy, init_statuses, statuses, init_done)
    all_ready = bool(statuses) and all(s["ready"] for s in statuses)
    not_ready = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
    sandbox_up = spec.get("hostNetwork") or any(
        c.is_sandbox and c.state is ContainerState.RUNNING for c in containers
    )
    conditions = [
        _condition(previous, "PodReadyToStartContainers", bool(sandbox_up), now),
        _condition(previous, "Initialized", init_done, now, "ContainersNotInitialized"),
        _condition(previous, "Ready", all_ready, now, not_ready),
        _condition(previous, "ContainersReady", all_ready, now, not_ready),
        _condition(previous, "PodScheduled", True, now),
    ]
    pod_ip = (
        host_ip
        if spec.get("hostNetwork")
        else next((c.pod_ip for c in containers if c.is_sandbox and c.pod_ip), "")
    )
    status: Obj = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "startTime": _start_time(pod, containers, previous, now),
        "qosClass": qos_class(spec),
        "containerStatuses": statuses,
    }
    if pod_ip:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return status


RUNTIME_DOWN_REASON = "ContainerRuntimeDown"


def runtime_down_status(status: Obj, *, message: str, now: float) -> Obj:
    """The pod's status while the engine does not answer: Ready False (the node lifecycle
    controller's MarkPodsNotReady, which it applies when the Node's Ready stops being True);
    the phase and the container statuses stay as last seen, which the agent cannot check."""
    conditions = []
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") != "False":
            cond = {
                **cond,
                "status": "False",
                "reason": RUNTIME_DOWN_REASON,
                "message": message,
                "lastTransitionTime": format_time(now),
            }
        conditions.append(cond)
    return {**status, "conditions": conditions}
