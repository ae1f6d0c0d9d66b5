"""Runs the plan's actions: the only writer to the Runtime. Pods in parallel, one pod in order.

A pod whose previous actions are still running (a stop waiting out its grace period) is skipped
until they finish. Outcomes are kept for the status: waiting reasons per container (ErrImagePull,
CrashLoopBackOff, ...) and the backoff state (restarts and failed starts). Image events (Pulling,
Pulled) go to `on_event`, as kubelet's image manager records them. A pod whose run fails as a
whole (its sandbox, an error no action handles) is recorded in `failures` (syncretry.py) with a
Warning event, and the plan leaves it until its retry time.
"""

from __future__ import annotations

import asyncio
import functools
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from nodeagent import failpoints
from nodeagent.agent import backoff, syncretry
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
from nodeagent.agent.aio import raise_if_cancelling
from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.agent.objectcache import ObjectCache
from nodeagent.agent.plan import RETRY_REASONS, START_KEY_PREFIX
from nodeagent.agent.podevents import PodEvent, pulled_event, pulling_event, warning_event
from nodeagent.agent.podstatus import WaitingReason
from nodeagent.agent.podvolumes import PodVolumes, VolumeFailure
from nodeagent.agent.tmpfs import unmount_under
from nodeagent.api.bodies import Obj
from nodeagent.api.projection import Objects
from nodeagent.runtime.convert import CONFIG_ERROR
from nodeagent.runtime.protocol import (
    ContainerInfo,
    ContainerState,
    PodContext,
    Runtime,
    RuntimeError_,
)

log = structlog.get_logger()
# a start waiting on a ConfigMap or Secret is tried again every 10 s, never backed off further
RETRY_POLICY = backoff.BackoffPolicy(initial=10.0, cap=10.0)


def _find_container(pod: Obj, name: str, *, is_init: bool) -> Obj:
    key = "initContainers" if is_init else "containers"
    return next(c for c in pod["spec"].get(key) or [] if c["name"] == name)


@dataclass(slots=True)
class _PodRun:
    """One pod's execution: its context (sandbox id, pod IP) and what it learnt."""

    desired: DesiredPod | None
    sandbox_id: str | None
    pod_ip: str
    waiting: dict[str, WaitingReason] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class Executor:
    runtime: Runtime
    node_name: str
    host_ip: str
    state_dir: str
    on_done: Callable[[], None] = lambda: None  # wakes the reconcile loop after a pod's run
    on_event: Callable[[str, PodEvent], None] = lambda _uid, _event: None  # (pod uid, event)
    clock: Callable[[], float] = time.time
    objects: ObjectCache | None = None  # the ConfigMaps/Secrets pods read (None: none at all)
    volumes: PodVolumes | None = None  # configMap/secret/downwardAPI/projected volume files
    restarts: dict[backoff.BackoffKey, backoff.BackoffEntry] = field(default_factory=dict)
    waiting: dict[str, dict[str, WaitingReason]] = field(default_factory=dict)  # uid -> name ->
    failures: dict[str, syncretry.SyncFailure] = field(default_factory=dict)  # failed syncs, by uid
    pulled: dict[str, str] = field(default_factory=dict)  # uid -> spec hash whose images are here
    jitter: Callable[[], float] = random.random  # the draw spreading failed pods' retries
    # hostNetwork? -> the API server's (host, port) as the pod reaches it (agent/apiendpoint.py)
    api_endpoint: Callable[[bool], tuple[str, int] | None] = lambda _host_network: None
    _busy: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # pod runs finished so far, and the count at which each pod's last run finished: a plan
    # made from a container listing older than a pod's finish is stale for that pod
    _finishes: int = 0
    _finished_at: dict[str, int] = field(default_factory=dict)

    def busy(self, uid: str) -> bool:
        return uid in self._busy

    def mark(self) -> int:
        """Taken before listing the containers: pass it to `submit` as `listed_at`."""
        return self._finishes

    def volume_dir(self, uid: str) -> str:
        return str(Path(self.state_dir) / "pods" / uid / "volumes")

    def retry_waiting_on_objects(self) -> None:
        """A ConfigMap or Secret changed: starts that failed for want of one go at the next
        pass instead of after their 10 s; so do pods whose sync failed (the object may be what
        they lacked)."""
        self.restarts = {k: e for k, e in self.restarts.items() if e.reason not in RETRY_REASONS}
        self.failures = {}

    def submit(
        self,
        actions: Sequence[Action],
        *,
        desired: Mapping[str, DesiredPod],
        observed: Sequence[ContainerInfo],
        listed_at: int | None = None,
    ) -> None:
        """Start running the actions, one task per pod; pods still busy are skipped, and so
        are pods whose run finished after `listed_at` (mark()): the listing the plan came from
        may not show what that run made, and planning it again would start a container twice
        (podman's `name is already in use`). Their finish woke the loop: the next pass lists
        again."""
        if listed_at is not None:
            self._finished_at = {u: n for u, n in self._finished_at.items() if n > listed_at}
        by_pod: dict[str, list[Action]] = defaultdict(list)
        for a in actions:
            by_pod[a.pod_uid].append(a)
        for uid in [u for u in self.waiting if u not in by_pod and u not in self._busy]:
            del self.waiting[uid]  # nothing left to wait for: the reasons are stale
        self.failures = syncretry.forget_gone(self.failures, set(desired))
        self.pulled = {u: h for u, h in self.pulled.items() if u in desired}
        for uid, pod_actions in by_pod.items():
            if uid in self._busy or (listed_at is not None and uid in self._finished_at):
                continue
            waiting_only = all(isinstance(a, Waiting | KeepRunning) for a in pod_actions)
            sandbox = next(
                (
                    c
                    for c in observed
                    if c.pod_uid == uid and c.is_sandbox and c.state is ContainerState.RUNNING
                ),
                None,
            )
            run = _PodRun(
                desired=desired.get(uid),
                sandbox_id=sandbox.id if sandbox else None,
                pod_ip=sandbox.pod_ip if sandbox else "",
            )
            if waiting_only:  # nothing to do with the engine: record at once
                self._record_waiting(uid, run, pod_actions)
                continue
            task = asyncio.create_task(self._run_pod(uid, run, pod_actions), name=f"pod-{uid}")
            self._busy[uid] = task

    def _record_waiting(self, uid: str, run: _PodRun, actions: Sequence[Action]) -> None:
        for a in actions:
            if isinstance(a, Waiting):
                run.waiting[a.container_name] = WaitingReason(reason=a.reason, message=a.message)
        self.waiting[uid] = run.waiting

    async def _run_pod(self, uid: str, run: _PodRun, actions: Sequence[Action]) -> None:
        """One pod's sync, in its own task: every log line in it carries pod and pod_uid."""
        name = run.desired.pod["metadata"]["name"] if run.desired else None
        structlog.contextvars.bind_contextvars(pod_uid=uid, **({"pod": name} if name else {}))
        self.failures = syncretry.forget(self.failures, uid)  # planned again: a new try
        action: Action | None = None
        try:
            for action in actions:
                if not await self._perform(uid, run, action):
                    break
            self._record_waiting(uid, run, [a for a in actions if isinstance(a, Waiting)])
        except Exception as e:
            raise_if_cancelling()
            if isinstance(e, RuntimeError_ | OSError):  # the engine or the host said no
                log.warning("pod_sync_failed", error=str(e))
            else:  # a bug: keep its traceback
                log.exception("pod_sync_failed")
            names = (action.container_name,) if isinstance(action, StartContainer) else ()
            event = ("Warning", "FailedSync", f"error syncing pod: {e}")
            self._sync_failed(uid, run, reason="", message=str(e), names=names, event=event)
        finally:
            del self._busy[uid]
            self._finishes += 1
            self._finished_at[uid] = self._finishes
            self.on_done()

    async def _perform(self, uid: str, run: _PodRun, action: Action) -> bool:
        """Do one action; False stops the rest of this pod's actions for this round."""
        if isinstance(action, Waiting | KeepRunning):
            return True
        if isinstance(action, StopContainers):
            await self._stop(action)
            return True
        if isinstance(action, RemoveContainers):
            await self._remove(action)
            return True
        if run.desired is None:
            return False
        pod = run.desired.pod
        if isinstance(action, CreateSandbox):
            try:
                sandbox_id = await self.runtime.create_sandbox(pod, self._ctx(run))
                run.sandbox_id = sandbox_id
                info = next(
                    (c for c in await self.runtime.list_containers() if c.id == run.sandbox_id),
                    None,
                )
                run.pod_ip = info.pod_ip if info else ""
                log.info("sandbox_created", sandbox_id=sandbox_id[:12])
            except RuntimeError_ as e:
                raise_if_cancelling()
                log.warning("sandbox_failed", error=str(e))
                event = ("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
                self._sync_failed(uid, run, reason=e.reason, message=str(e), names=(), event=event)
                return False
            return True
        if isinstance(action, PullImages):
            return await self._pull(uid, run, action)
        return await self._start(uid, run, action)

    def _sync_failed(
        self,
        uid: str,
        run: _PodRun,
        *,
        reason: str,
        message: str,
        names: tuple[str, ...],
        event: PodEvent,
    ) -> None:
        """The pod's run failed as a whole: its Warning event, the waiting reason of `names`
        (all its app containers when empty) and its retry time."""
        self.on_event(uid, event)
        if run.desired is None:
            return
        pod = run.desired.pod
        names = names or tuple(c["name"] for c in pod["spec"].get("containers") or [])
        self.failures = syncretry.record_failure(
            self.failures,
            uid,
            spec_hash=run.desired.spec_hash,
            now=self.clock(),
            jitter=self.jitter(),
            reason=reason,
            message=message,
            containers=names,
        )
        shown = self.failures[uid]
        for name in names:
            run.waiting[name] = WaitingReason(reason=shown.reason, message=message)
        self.waiting[uid] = run.waiting

    def _ctx(self, run: _PodRun, objects: Objects | None = None) -> PodContext:
        assert run.desired is not None
        return PodContext(
            objects=objects or {},
            allocatable=self.volumes.allocatable if self.volumes else {},
            node_name=self.node_name,
            host_ip=self.host_ip,
            source=run.desired.source,
            spec_hash=run.desired.spec_hash,
            volume_dir=self.volume_dir(run.desired.uid),
            sandbox_id=run.sandbox_id,
            pod_ip=self.host_ip if run.desired.pod["spec"].get("hostNetwork") else run.pod_ip,
            api_server=self.api_endpoint(bool(run.desired.pod["spec"].get("hostNetwork"))),
        )

    async def _start(self, uid: str, run: _PodRun, action: StartContainer) -> bool:
        assert run.desired is not None
        pod, name = run.desired.pod, action.container_name
        spec_c = _find_container(pod, name, is_init=action.is_init)
        start_key = (uid, START_KEY_PREFIX + name)
        image = str(spec_c["image"])
        objects: Objects = {}
        try:
            if self.objects is not None:
                objects = await self.objects.ready_for(pod)
            if self.volumes is not None:
                await self.volumes.setup(pod, objects)
        except VolumeFailure as e:
            self.on_event(uid, ("Warning", "FailedMount", str(e)))
            return self._failed(uid, run, name, start_key, "ContainerCreating", str(e), action)
        try:
            outcome = await self.runtime.ensure_image(
                image,
                pull_policy=spec_c.get("imagePullPolicy") or "IfNotPresent",
                on_pull=lambda: self.on_event(uid, pulling_event(image)),
            )
            self.on_event(
                uid,
                pulled_event(
                    image, pulled=outcome.pulled, seconds=outcome.seconds, size=outcome.size
                ),
            )
            cid, warnings = await self.runtime.create_container(
                pod, spec_c, self._ctx(run, objects), attempt=action.attempt, is_init=action.is_init
            )
            failpoints.hit("after-container-create")
            for w in warnings:
                log.warning("container_field_not_honoured", container=name, warning=w)
                self.on_event(uid, warning_event(w))
            await self.runtime.start_container(cid)
            failpoints.hit("after-container-start")
        except RuntimeError_ as e:
            raise_if_cancelling()
            reason = e.reason if e.reason.startswith("Err") else "CreateContainerError"
            if e.reason == CONFIG_ERROR:
                reason = CONFIG_ERROR
            return self._failed(uid, run, name, start_key, reason, str(e), action)
        self.restarts = backoff.forget(self.restarts, start_key)
        if action.restart:
            self.restarts = backoff.record_restart(self.restarts, (uid, name), now=self.clock())
        log.info(
            "container_started",
            container=name,
            attempt=action.attempt,
            container_id=cid[:12],
        )
        return True

    async def _pull(self, uid: str, run: _PodRun, action: PullImages) -> bool:
        """A successor's images, before its predecessor stops (handover.py); a failure backs
        off as a failed start (ErrImagePull, then ImagePullBackOff) and shows on the pod."""
        assert run.desired is not None
        spec = run.desired.pod.get("spec") or {}
        for spec_c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            name, image = spec_c["name"], str(spec_c["image"])
            start_key = (uid, START_KEY_PREFIX + name)
            try:
                outcome = await self.runtime.ensure_image(
                    image,
                    pull_policy=spec_c.get("imagePullPolicy") or "IfNotPresent",
                    on_pull=functools.partial(self.on_event, uid, pulling_event(image)),
                )
            except RuntimeError_ as e:
                raise_if_cancelling()
                reason = e.reason if e.reason.startswith("Err") else "ErrImagePull"
                self.restarts = backoff.record_restart(
                    self.restarts, start_key, now=self.clock(), reason=reason, message=str(e)
                )
                run.waiting[name] = WaitingReason(reason=reason, message=str(e))
                self.waiting[uid] = run.waiting
                self.on_event(uid, ("Warning", "Failed", f'Failed to pull image "{image}": {e}'))
                log.warning("handover_pull_failed", pod_uid=uid, image=image, error=str(e))
                return False
            self.restarts = backoff.forget(self.restarts, start_key)
            if outcome.pulled:
                event = pulled_event(image, pulled=True, seconds=outcome.seconds, size=outcome.size)
                self.on_event(uid, event)
        self.pulled[uid] = action.spec_hash
        log.info("handover_images_present", pod_uid=uid)
        return True

    def _failed(
        self,
        uid: str,
        run: _PodRun,
        name: str,
        start_key: backoff.BackoffKey,
        reason: str,
        message: str,
        action: StartContainer,
    ) -> bool:
        """Record a failed start (its back-off, its waiting reason); False stops an init
        container's pod from going on."""
        assert run.desired is not None
        policy = RETRY_POLICY if reason in RETRY_REASONS else backoff.DEFAULT_POLICY
        self.restarts = backoff.record_restart(
            self.restarts,
            start_key,
            now=self.clock(),
            reason=reason,
            message=message,
            policy=policy,
        )
        run.waiting[name] = WaitingReason(reason=reason, message=message)
        log.warning(
            "container_start_failed",
            container=name,
            reason=reason,
            error=message,
        )
        return not action.is_init

    async def _stop(self, action: StopContainers) -> None:
        async def stop(cid: str) -> None:
            try:
                await self.runtime.stop_container(cid, grace_seconds=action.grace_seconds)
            except RuntimeError_ as e:
                raise_if_cancelling()
                log.warning("container_stop_failed", container_id=cid[:12], error=str(e))

        log.info(
            "containers_stopping",
            reason=action.reason,
            count=len(action.container_ids),
            grace_seconds=action.grace_seconds,
        )
        await asyncio.gather(*(stop(cid) for cid in action.container_ids))

    async def _remove(self, action: RemoveContainers) -> None:
        for cid in action.container_ids:
            try:
                await self.runtime.remove_container(cid)
            except RuntimeError_ as e:
                raise_if_cancelling()
                log.warning("container_remove_failed", container_id=cid[:12], error=str(e))
        if action.pod_gone:
            pod_dir = Path(self.state_dir) / "pods" / action.pod_uid
            await asyncio.to_thread(unmount_under, pod_dir)  # secret volumes' tmpfs first
            await asyncio.to_thread(shutil.rmtree, pod_dir, True)
            self.restarts = backoff.forget_pods(
                self.restarts, {k[0] for k in self.restarts} - {action.pod_uid}
            )
            self.waiting.pop(action.pod_uid, None)

    async def drain(self) -> None:
        """Wait for every running pod task (tests, shutdown)."""
        while self._busy:
            await asyncio.gather(*self._busy.values(), return_exceptions=True)

    async def cancel(self, *, wait: float = 5.0) -> None:
        """Cancel what is in flight; wait at most `wait` seconds (a call into the engine that
        ignores cancellation must not hold up the agent's stop)."""
        tasks = list(self._busy.values())
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=wait)
            if pending:
                log.warning("pod_actions_not_cancelled", count=len(pending))
