"""PURE reconcile decision: (desired pods, observed containers, backoff, probes, now) -> actions.

No I/O and no clock: the executor performs what this returns. The rules follow kubelet's
SyncPod / computePodActions, simplified to whole-pod replacement on any spec change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nodeagent.agent import backoff, probes, restartpolicy, syncretry
from nodeagent.agent.actions import (
    Action,
    CreateSandbox,
    KeepRunning,
    PullImages,
    RemoveContainers,
    StartContainer,
    StopContainers,
    Waiting,
)
from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.agent.handover import plan_handover
from nodeagent.agent.probes import ProbeResults
from nodeagent.runtime.labels import grace_period
from nodeagent.runtime.protocol import ContainerInfo, ContainerState

START_KEY_PREFIX = "start:"  # backoff key of failed pulls/creates: (uid, "start:" + name)

# why a start failed -> the reason shown while its backoff runs
BACKOFF_REASON: Mapping[str, str] = {"ErrImagePull": "ImagePullBackOff"}
# failures retried every 10 s (kubelet's pod worker requeue) with the error as the message:
# a missing ConfigMap/Secret (env or volume), which the object's arrival also retries at once
RETRY_REASONS = frozenset({"CreateContainerConfigError", "ContainerCreating"})
# kubelet shows the failure itself (ErrImagePull) until its pod worker's next sync, about 10 s
# later, and the backoff word (ImagePullBackOff) after: here the first half of each wait, <= 10 s.
FAILURE_SHOWN_SECONDS = 10.0


def latest_attempts(containers: Iterable[ContainerInfo], *, init: bool) -> dict[str, ContainerInfo]:
    """Per container name, its newest attempt (sandbox excluded)."""
    latest: dict[str, ContainerInfo] = {}
    for c in containers:
        if c.is_sandbox or c.is_init != init:
            continue
        if c.container_name not in latest or c.attempt > latest[c.container_name].attempt:
            latest[c.container_name] = c
    return latest


def _ids(containers: Iterable[ContainerInfo]) -> tuple[str, ...]:
    return tuple(c.id for c in containers)


def _teardown(
    uid: str, containers: Sequence[ContainerInfo], *, grace: int, reason: str
) -> list[Action]:
    """Stop the running ones (apps first, then the sandbox at once) and remove them all."""
    running = [c for c in containers if c.state is ContainerState.RUNNING]
    apps = [c for c in running if not c.is_sandbox]
    sandboxes = [c for c in running if c.is_sandbox]
    actions: list[Action] = []
    if apps:
        actions.append(
            StopContainers(
                pod_uid=uid, container_ids=_ids(apps), grace_seconds=grace, reason=reason
            )
        )
    if sandboxes:
        actions.append(
            StopContainers(
                pod_uid=uid, container_ids=_ids(sandboxes), grace_seconds=0, reason=reason
            )
        )
    actions.append(
        RemoveContainers(
            pod_uid=uid,
            container_ids=_ids(sorted(containers, key=lambda c: c.is_sandbox)),  # sandbox last
            pod_gone=reason in ("Deleted", "Orphaned"),
        )
    )
    return actions


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ctx:
    desired: DesiredPod
    restarts: backoff.BackoffState
    results: ProbeResults
    now: float


def _start(ctx: _Ctx, name: str, *, attempt: int, is_init: bool, restart: bool) -> Action:
    """Start a container attempt unless a failed start of it is still backing off."""
    uid = ctx.desired.uid
    key = (uid, START_KEY_PREFIX + name)
    entry = ctx.restarts.get(key)
    if entry is not None:
        wait = backoff.remaining(ctx.restarts, key, since=entry.last_update, now=ctx.now)
        if wait > 0:
            failed = entry.reason or "CreateContainerError"
            shown = min(FAILURE_SHOWN_SECONDS, entry.delay / 2)
            fresh = ctx.now - entry.last_update < shown
            reason = failed if fresh else BACKOFF_REASON.get(failed, failed)
            msg = f"Back-off {entry.delay:.0f}s starting container={name}: {entry.message}"
            if failed in RETRY_REASONS:
                msg = entry.message
            flip = entry.last_update + shown if fresh else ctx.now + wait
            return Waiting(
                pod_uid=uid,
                container_name=name,
                reason=reason,
                message=msg,
                recheck_at=min(flip, ctx.now + wait),
            )
    return StartContainer(
        pod_uid=uid, container_name=name, attempt=attempt, is_init=is_init, restart=restart
    )


def _restart_dead(ctx: _Ctx, c: ContainerInfo, *, is_init: bool) -> Action | None:
    """A dead container: restartpolicy.py decides; a restart now still waits out a failed start."""
    decision = restartpolicy.restart_dead(
        pod=ctx.desired.pod, uid=ctx.desired.uid, container=c, restarts=ctx.restarts, now=ctx.now
    )
    if isinstance(decision, restartpolicy.RestartNow):
        return _start(
            ctx, c.container_name, attempt=decision.attempt, is_init=is_init, restart=True
        )
    return decision


def _plan_init(ctx: _Ctx, containers: Sequence[ContainerInfo]) -> tuple[list[Action], bool]:
    """Init containers in order, each to completion; returns (actions, all init done)."""
    spec = ctx.desired.pod.get("spec", {})
    if any(not c.is_sandbox and not c.is_init for c in containers):
        return [], True  # app containers exist: init already completed once (kubelet keeps it so)
    latest = latest_attempts(containers, init=True)
    for ic in spec.get("initContainers") or []:
        c = latest.get(ic["name"])
        if c is None:
            return [_start(ctx, ic["name"], attempt=0, is_init=True, restart=False)], False
        if c.state is ContainerState.RUNNING:
            return [], False
        if c.state is ContainerState.CREATED:
            uid = ctx.desired.uid
            return [
                RemoveContainers(pod_uid=uid, container_ids=(c.id,)),
                _start(ctx, ic["name"], attempt=c.attempt, is_init=True, restart=False),
            ], False
        if c.exit_code == 0:
            continue
        action = _restart_dead(ctx, c, is_init=True)
        return ([action] if action else []), False
    return [], True


def _plan_app(ctx: _Ctx, containers: Sequence[ContainerInfo]) -> list[Action]:
    uid, pod = ctx.desired.uid, ctx.desired.pod
    latest = latest_attempts(containers, init=False)
    actions: list[Action] = []
    for spec_c in pod.get("spec", {}).get("containers") or []:
        name = spec_c["name"]
        c = latest.get(name)
        if c is None:
            actions.append(_start(ctx, name, attempt=0, is_init=False, restart=False))
        elif c.state is ContainerState.RUNNING:
            if probes.liveness_failed(spec_c, ctx.results, c.id):
                grace = ctx.desired.grace_seconds
                actions.append(
                    StopContainers(
                        pod_uid=uid, container_ids=(c.id,), grace_seconds=grace, reason="Unhealthy"
                    )
                )
        elif c.state is ContainerState.CREATED:
            actions.append(RemoveContainers(pod_uid=uid, container_ids=(c.id,)))
            actions.append(_start(ctx, name, attempt=c.attempt, is_init=False, restart=False))
        else:
            action = _restart_dead(ctx, c, is_init=False)
            if action is not None:
                actions.append(action)
    return actions


def _old_attempts(containers: Sequence[ContainerInfo]) -> tuple[str, ...]:
    """Dead attempts older than the two newest of each container name (the newest dead one
    stays for lastState, as kubelet keeps one)."""
    if len(containers) < 3:  # no name can have three attempts: the steady state, kept cheap
        return ()
    by_name: dict[tuple[bool, str], list[ContainerInfo]] = defaultdict(list)
    for c in containers:
        if not c.is_sandbox:
            by_name[(c.is_init, c.container_name)].append(c)
    old: list[str] = []
    for group in by_name.values():
        if len(group) > 2:
            group.sort(key=lambda c: c.attempt, reverse=True)
            old += [c.id for c in group[2:] if c.state is not ContainerState.RUNNING]
    return tuple(old)


def _untouched(d: DesiredPod, containers: Sequence[ContainerInfo], results: ProbeResults) -> bool:
    """The steady state, checked cheaply: one running container of the current spec hash per
    app container (and a running sandbox unless hostNetwork), no failed liveness. True means
    the full rules below would plan nothing; False means ask them."""
    shape = d.shape
    if len(containers) != len(shape.app_names) + (0 if shape.host_network else 1):
        return False
    names: set[str] = set()
    for c in containers:
        if c.state is not ContainerState.RUNNING or c.spec_hash != d.spec_hash or c.is_init:
            return False
        if c.is_sandbox:
            if shape.host_network:
                return False
            continue
        names.add(c.container_name)
    if names != shape.app_names:
        return False
    if not shape.probed:
        return True
    spec_of = {s["name"]: s for s in d.pod["spec"]["containers"]}
    return not any(
        probes.liveness_failed(spec_of[c.container_name], results, c.id)
        for c in containers
        if c.container_name in shape.probed and not c.is_sandbox
    )


def _plan_pod(ctx: _Ctx, containers: Sequence[ContainerInfo]) -> list[Action]:
    d = ctx.desired
    if any(c.spec_hash != d.spec_hash for c in containers):
        return _teardown(d.uid, containers, grace=d.grace_seconds, reason="SpecChanged")
    actions: list[Action] = []
    if not d.pod.get("spec", {}).get("hostNetwork"):
        sandboxes = [c for c in containers if c.is_sandbox]
        if not any(s.state is ContainerState.RUNNING for s in sandboxes):
            if containers:  # the sandbox died under its containers: start the pod afresh
                return _teardown(d.uid, containers, grace=d.grace_seconds, reason="SandboxChanged")
            actions.append(CreateSandbox(pod_uid=d.uid))
    init_actions, init_done = _plan_init(ctx, containers)
    actions += init_actions
    if init_done:
        actions += _plan_app(ctx, containers)
    old = _old_attempts(containers)
    if old:
        actions.append(RemoveContainers(pod_uid=d.uid, container_ids=old))
    return actions


def _held(uid: str, failure: syncretry.SyncFailure) -> list[Action]:
    """A failed pod waiting for its retry: why, on the containers the failure stopped."""
    return [
        Waiting(
            pod_uid=uid,
            container_name=name,
            reason=failure.reason,
            message=failure.message,
            recheck_at=failure.retry_at,
        )
        for name in failure.containers or ("",)
    ]


def plan(
    *,
    desired: Mapping[str, DesiredPod],
    observed: Sequence[ContainerInfo],
    restarts: backoff.BackoffState,
    probes: ProbeResults,
    now: float,
    failures: syncretry.SyncFailures | None = None,
    unseen_sources: frozenset[str] = frozenset(),
    pulled: Mapping[str, str] | None = None,
) -> list[Action]:
    """Every action needed to bring the observed containers to the desired pods.

    Invariants:
    * Only containers carrying this agent's labels are in `observed`; any of them whose pod uid
      nothing desires is stopped and removed (orphans), with the grace recorded in its labels,
      once the source that made it has been seen: an orphan of a source in `unseen_sources`
      (the server away and no trustworthy checkpoint) is left running, as kubelet removes
      orphans only when all its sources are ready.
    * A pod that is deleting (deletionTimestamp, or no source wants it) is stopped with its grace
      period and removed; a new pod of the same namespace/name waits until it is gone.
    * Pull before replace (handover.py): a deleting pod that a new pod replaces keeps running
      (KeepRunning) until the new pod's images are present for its spec hash (`pulled`: uid ->
      spec hash); the new pod meanwhile gets PullImages, or Waiting while a failed pull backs
      off, and never starts beside its predecessor's containers.
    * A running container whose spec hash is current is never touched, unless its liveness (or
      startup) probe failed: adoption after an agent restart costs no restart.
    * Any container of a pod with another spec hash means the pod is replaced as a whole.
    * Init containers run one at a time in order, each to success, before any app container.
    * A dead container restarts per restartPolicy, immediately the first time, then after its
      CrashLoopBackOff delay; restart counts come from the attempt label, so they survive us.
    * A pod whose last sync failed (`failures`) is left alone until its retry time, unless its
      spec hash changed or it is deleting: only Waiting actions, due at the retry time.
    """
    by_pod: dict[str, list[ContainerInfo]] = defaultdict(list)
    for c in observed:
        by_pod[c.pod_uid].append(c)
    actions: list[Action] = []
    busy_names: set[tuple[str, str]] = set()
    handover = plan_handover(desired=desired, by_pod=by_pod, pulled=pulled or {}, now=now)
    for uid, containers in by_pod.items():
        d = desired.get(uid)
        if d is not None and not d.deleting:
            continue
        if d is None and containers[0].source in unseen_sources:
            continue  # its source may still want it: not an orphan yet
        if uid in handover.held:
            successor, until = handover.held[uid]
            actions.append(KeepRunning(pod_uid=uid, successor_uid=successor, recheck_at=until))
            continue
        grace = d.grace_seconds if d is not None else grace_period(containers[0].labels)
        reason = "Deleted" if d is not None else "Orphaned"
        actions += _teardown(uid, containers, grace=grace, reason=reason)
        first = containers[0]
        busy_names.add((first.pod_namespace, first.pod_name))
    for succ in handover.to_pull:
        actions += _pull_first(_Ctx(desired=succ, restarts=restarts, results=probes, now=now))
    for uid, d in desired.items():
        if d.deleting or uid in handover.successors:
            continue
        if busy_names:
            meta = d.pod["metadata"]
            if (meta.get("namespace", "default"), meta["name"]) in busy_names:
                continue
        mine: Sequence[ContainerInfo] = by_pod.get(uid) or ()
        if mine and _untouched(d, mine, probes):
            continue
        held = syncretry.holding(failures or {}, uid, spec_hash=d.spec_hash, now=now)
        if held is not None:
            actions += _held(uid, held)
            continue
        ctx = _Ctx(desired=d, restarts=restarts, results=probes, now=now)
        actions += _plan_pod(ctx, mine)
    return actions


def _pull_first(ctx: _Ctx) -> list[Action]:
    """A successor's pulls: Waiting per container whose failed pull still backs off, else one
    PullImages for the whole pod."""
    spec = ctx.desired.pod.get("spec") or {}
    names = [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    waits = [
        a
        for a in (_start(ctx, n, attempt=0, is_init=False, restart=False) for n in names)
        if isinstance(a, Waiting)
    ]
    return list(waits) or [PullImages(pod_uid=ctx.desired.uid, spec_hash=ctx.desired.spec_hash)]


def next_recheck(actions: Iterable[Action]) -> float | None:
    """The earliest time (the plan's clock) at which planning again would change an answer
    given now: a back-off ending, a failure's reason turning into the back-off word, a held
    pod's wait for its successor ending."""
    times = [
        a.recheck_at
        for a in actions
        if isinstance(a, Waiting | KeepRunning) and a.recheck_at is not None
    ]
    return min(times, default=None)
