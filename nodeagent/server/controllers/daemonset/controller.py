"""The DaemonSet controller loop (syncDaemonSet): read caches -> pure plans -> writes -> status.

Owns the I/O of the DaemonSet controller: informers on daemonsets, pods, nodes and
controllerrevisions, the work queue, expectations (do not act again until our own creates and
deletes are seen), pod creates in slow-start batches, deletes, revision writes, events and the
status subresource, and what the rollout guard decides (revision marks, auto-revert, the
status conditions). Every decision is made by plan.py, rollout.py, guard.py, history.py and
status.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from nodeagent.api import meta, rolloutpolicy
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import AlreadyExists, APIError, Conflict, NotFound
from nodeagent.server.controllers.daemonset import (
    guard,
    history,
    plan,
    rollout,
    status,
    strategy,
)
from nodeagent.server.controllers.daemonset.expectations import Expectations
from nodeagent.server.controllers.daemonset.metricgate import MetricReading
from nodeagent.server.controllers.eventfilter import SpamFilter
from nodeagent.server.controllers.queuemetrics import MetricsProvider
from nodeagent.server.controllers.workqueue import (
    Informer,
    Key,
    WorkQueue,
    object_key,
    report_unfinished_work,
)
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()

COMPONENT = "daemonset-controller"
QUEUE_NAME = "daemonset"  # kube-controller-manager's: the `name` of its workqueue metrics
RESYNC_SECONDS = 30.0
WORKERS = 2


class MetricSource(Protocol):
    """The metric gate's Prometheus (prometheus.PrometheusClient)."""

    async def query(self, expr: str) -> MetricReading: ...


class EventRecorder(Protocol):
    async def __call__(
        self,
        registry: Registry,
        *,
        involved: Obj,
        type: str,
        reason: str,
        message: str,
        now: float,
        component: str,
    ) -> Any: ...


@dataclass(slots=True, kw_only=True)
class DaemonSetController:
    registry: Registry
    record_event: EventRecorder
    clock: Callable[[], float] = time.time
    metrics: MetricSource | None = None  # --prometheus-url: the metric gate's Prometheus
    resync_seconds: float = RESYNC_SECONDS
    queue_metrics: MetricsProvider | None = None  # the server's workqueue metrics
    queue: WorkQueue[Key] = field(init=False)
    backoff: dict[str, plan.BackoffEntry] = field(default_factory=dict)
    expectations: Expectations = field(default_factory=Expectations)
    spam: SpamFilter = field(default_factory=SpamFilter)
    daemonsets: Informer = field(init=False)
    pods: Informer = field(init=False)
    nodes: Informer = field(init=False)
    revisions: Informer = field(init=False)

    def __post_init__(self) -> None:
        self.queue = WorkQueue(name=QUEUE_NAME, metrics=self.queue_metrics)
        self.daemonsets = Informer(registry=self.registry, resource="daemonsets")
        self.pods = Informer(registry=self.registry, resource="pods")
        self.nodes = Informer(registry=self.registry, resource="nodes")
        self.revisions = Informer(registry=self.registry, resource="controllerrevisions")
        self.daemonsets.add_handler(self._on_daemonset)
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)
        self.revisions.add_handler(self._on_revision)

    # --- event handlers: enqueue the affected DaemonSets ----------------------------------

    def _on_daemonset(self, old: Obj | None, new: Obj | None) -> None:
        self.queue.add(object_key(new or old or {}))

    def _owner_key(self, obj: Obj) -> Key | None:
        ref = meta.controller_ref(obj)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        key = (meta.namespace_of(obj), str(ref.get("name") or ""))
        ds = self.daemonsets.get(*key)
        if ds is None or meta.uid_of(ds) != ref.get("uid"):
            return None
        return key

    def _selecting(self, obj: Obj) -> list[Key]:
        labels = meta.labels_of(obj)
        return [
            object_key(ds)
            for ds in self.daemonsets.list(meta.namespace_of(obj))
            if not plan.selects_everything(ds) and plan.selector_of(ds).matches(labels)
        ]

    def _observe(self, old: Obj | None, new: Obj | None) -> None:
        """Settle expectations as the pod cache shows our creates and deletes."""
        if not self.expectations:
            return
        if old is None and new is not None:
            owner = self._owner_key(new)
            if owner is not None:
                self.expectations.created(owner)
        gone = old if new is None else (new if plan.is_terminating(new) else None)
        if gone is not None:
            self.expectations.gone(meta.uid_of(gone))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        self._observe(old, new)
        keys: set[Key] = set()
        for obj in (old, new):
            if obj is None:
                continue
            owner = self._owner_key(obj)
            if owner is not None:
                keys.add(owner)
            elif meta.controller_ref(obj) is None:
                keys.update(self._selecting(obj))
        for key in keys:
            self.queue.add(key)

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and not _node_changed(old, new):
            return
        for ds in self.daemonsets.list():
            self.queue.add(object_key(ds))

    def _on_revision(self, old: Obj | None, new: Obj | None) -> None:
        for obj in (old, new):
            if obj is not None:
                owner = self._owner_key(obj)
                if owner is not None:
                    self.queue.add(owner)

    # --- running ------------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(report_unfinished_work(self.queue), name="daemonset-queue-metrics")
            for informer in (self.nodes, self.pods, self.revisions, self.daemonsets):
                tg.create_task(informer.run(), name=f"informer-{informer.resource}")
            for informer in (self.nodes, self.pods, self.revisions, self.daemonsets):
                await informer.synced.wait()
            log.info("daemonset_controller_synced")
            for i in range(WORKERS):
                tg.create_task(self._worker(), name=f"daemonset-worker-{i}")
            tg.create_task(self._resync(), name="daemonset-resync")

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            for ds in self.daemonsets.list():
                self.queue.add(object_key(ds))

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                requeue = await self.sync(key)
            except APIError as exc:  # a conflict, or a refused pod create (FailedCreate)
                log.info("daemonset_sync_retry", daemonset=_fmt(key), reason=exc.reason)
                self.queue.add_rate_limited(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("daemonset_sync_failed", daemonset=_fmt(key))
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if requeue is not None:
                    self.queue.add_after(key, requeue)
            finally:
                self.queue.done(key)

    # --- sync ---------------------------------------------------------------------------

    async def sync(self, key: Key) -> float | None:
        """Reconcile one DaemonSet; returns seconds after which to look again, if any. Every
        log line of the sync carries daemonset=NAMESPACE/NAME."""
        with structlog.contextvars.bound_contextvars(daemonset=_fmt(key)):
            return await self._sync(key)

    async def _sync(self, key: Key) -> float | None:
        namespace, name = key
        ds = self.daemonsets.get(namespace, name)
        if ds is None:
            self.expectations.forget(key)
            return None
        now = self.clock()
        if plan.selects_everything(ds):
            await self._event(
                ds,
                "Warning",
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            )
            return None
        if plan.is_terminating(ds):
            return None
        nodes = self.nodes.list()
        daemon_pods = await self._claim_pods(ds)
        hash_ = await self._construct_history(ds, daemon_pods)
        if not self.expectations.satisfied(key, now):
            await self._write_status(ds, nodes, daemon_pods, hash_, observed=False)
            return None
        managed = plan.manage(
            ds=ds, nodes=nodes, daemon_pods=daemon_pods, hash_=hash_, backoff=self.backoff, now=now
        )
        self.backoff.update(managed.backoff)
        for failed in managed.failed:
            await self._event(ds, "Warning", "FailedDaemonPod", failed.message())
        policy = rolloutpolicy.policy_of(ds)
        counts = status.compute_status(
            ds=ds, nodes=nodes, daemon_pods=daemon_pods, hash_=hash_, now=now, observed=True
        )
        decision = guard.decide(
            ds=ds,
            policy=policy,
            nodes=nodes,
            daemon_pods=daemon_pods,
            revisions=history.controlled_revisions(ds, self.revisions.list(meta.namespace_of(ds)))[
                0
            ],
            hash_=hash_,
            counts=counts,
            now=now,
            metric=await self._metric(policy, counts),
        )
        try:
            acted = await self._sync_nodes(ds, managed.delete, managed.create_on, hash_)
        except APIError:
            # a refused create (a missing ServiceAccount, ...): the status is still written,
            # and the worker retries with back-off, as syncDaemonSet returns the error
            await self._write_status(
                ds, nodes, daemon_pods, hash_, observed=True, conditions=decision.conditions
            )
            raise
        if not acted and strategy.strategy_type(ds) == "RollingUpdate":
            rolled = rollout.rolling_update(
                ds=ds,
                nodes=nodes,
                daemon_pods=daemon_pods,
                hash_=hash_,
                now=now,
                scope=decision.scope,
            )
            await self._sync_nodes(ds, rolled.delete, rolled.create_on, hash_)
        await self._apply_guard(ds, decision)
        await self._cleanup_history(ds, hash_)
        new_status = await self._write_status(
            ds,
            nodes,
            daemon_pods,
            hash_,
            observed=True,
            conditions=decision.conditions,
            computed=counts,
        )
        requeues = [r for r in (managed.requeue_after, decision.requeue_after) if r is not None]
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and new_status.get("numberReady") != new_status.get("numberAvailable"):
            requeues.append(float(min_ready))
        return min(requeues) if requeues else None

    async def _metric(
        self, policy: rolloutpolicy.RolloutPolicy, counts: Obj
    ) -> MetricReading | None:
        """The answer to the DaemonSet's metric query, asked only while a rollout is under way."""
        desired = counts.get("desiredNumberScheduled") or 0
        rolling = counts.get("updatedNumberScheduled") != desired or (
            counts.get("numberAvailable") != desired
        )
        if policy.metric_query is None or not rolling:
            return None
        if self.metrics is None:
            return MetricReading(error="no Prometheus to ask (nodeagent server --prometheus-url)")
        return await self.metrics.query(policy.metric_query)

    async def _apply_guard(self, ds: Obj, decision: guard.Decision) -> None:
        """The rollout guard's writes: revision marks, its events, and an auto-revert, which
        patches the revision's template onto the DS exactly as `kubectl rollout undo` does."""
        for revision, marks in decision.annotate:
            marked = copy.deepcopy(revision)
            marked.setdefault("metadata", {}).setdefault("annotations", {}).update(marks)
            await self.registry.update("controllerrevisions", marked)
        for event in decision.events:
            await self._event(ds, event.type, event.reason, event.message)
        if decision.revert_to is not None:
            target = decision.revert_to
            await self.registry.patch(
                "daemonsets",
                meta.namespace_of(ds),
                meta.name_of(ds),
                json.dumps(target.get("data") or {}).encode(),
                "application/strategic-merge-patch+json",
            )
            log.warning(
                "daemonset_reverted",
                daemonset=meta.name_of(ds),
                revision=meta.name_of(target),
            )

    async def _claim_pods(self, ds: Obj) -> list[Obj]:
        claim = plan.claim_pods(ds, self.pods.list(meta.namespace_of(ds)))
        owned = {meta.uid_of(p): p for p in claim.owned}
        if claim.adopt:
            fresh = await self.registry.get("daemonsets", meta.namespace_of(ds), meta.name_of(ds))
            if meta.uid_of(fresh) != meta.uid_of(ds) or plan.is_terminating(fresh):
                for pod in claim.adopt:
                    owned.pop(meta.uid_of(pod), None)
                claim = plan.Claim(owned=[], adopt=[], release=claim.release)
        for pod in claim.adopt:
            stored = await self.registry.update("pods", plan.adopted(pod, ds))
            owned[meta.uid_of(stored)] = stored
            log.info("daemon_pod_adopted", pod=meta.name_of(pod))
        for pod in claim.release:
            with contextlib.suppress(NotFound):
                await self.registry.update("pods", plan.released(pod, ds))
            log.info("daemon_pod_released", pod=meta.name_of(pod))
        return list(owned.values())

    async def _construct_history(self, ds: Obj, daemon_pods: list[Obj]) -> str:
        ours, orphans = history.controlled_revisions(ds, self.revisions.list(meta.namespace_of(ds)))
        for rev in orphans:
            ours.append(await self.registry.update("controllerrevisions", plan.adopted(rev, ds)))
        hplan = history.construct_history(ds, ours, daemon_pods)
        for rev in hplan.hash_label_missing:
            await self.registry.update("controllerrevisions", rev)
        if hplan.create is not None:
            await self._create_revision(ds, hplan.create)
            return hplan.hash
        assert hplan.current is not None
        for pod in hplan.relabel:
            body = {"metadata": {"labels": {plan.HASH_LABEL: hplan.hash}}}
            await self.registry.patch(
                "pods",
                meta.namespace_of(pod),
                meta.name_of(pod),
                json.dumps(body).encode(),
                "application/merge-patch+json",
            )
        for dup in hplan.duplicates:
            with contextlib.suppress(NotFound):
                await self.registry.delete(
                    "controllerrevisions", meta.namespace_of(dup), meta.name_of(dup)
                )
        if hplan.set_revision is not None:
            bumped = copy.deepcopy(hplan.current)
            bumped["revision"] = hplan.set_revision
            # A revision made current again is a fresh attempt: its halt is forgotten.
            marks = (bumped.get("metadata") or {}).get("annotations") or {}
            for key in (guard.HALTED, guard.REVERTED_TO):
                marks.pop(key, None)
            await self.registry.update("controllerrevisions", bumped)
        return hplan.hash

    async def _create_revision(self, ds: Obj, revision: Obj) -> None:
        namespace = meta.namespace_of(ds)
        try:
            await self.registry.create("controllerrevisions", revision, namespace=namespace)
        except AlreadyExists:
            existing = await self.registry.get(
                "controllerrevisions", namespace, meta.name_of(revision)
            )
            if history.matches(ds, existing):
                return
            # A hash collision with a different template: bump collisionCount and retry.
            current = await self.registry.get("daemonsets", namespace, meta.name_of(ds))
            if history.collision_count(current) != history.collision_count(ds):
                raise
            current.setdefault("status", {})["collisionCount"] = (
                history.collision_count(current) or 0
            ) + 1
            await self.registry.update("daemonsets", current, subresource="status")
            log.info("daemonset_hash_collision")
            raise

    async def _cleanup_history(self, ds: Obj, hash_: str) -> None:
        ours, _ = history.controlled_revisions(ds, self.revisions.list(meta.namespace_of(ds)))
        old = [r for r in ours if meta.labels_of(r).get(plan.HASH_LABEL) != hash_]
        all_pods = [
            p for p in self.pods.list(meta.namespace_of(ds)) if meta.is_controlled_by(p, ds)
        ]
        for rev in history.history_to_prune(ds, old, all_pods):
            with contextlib.suppress(NotFound):
                await self.registry.delete(
                    "controllerrevisions", meta.namespace_of(rev), meta.name_of(rev)
                )
            log.info("daemonset_revision_pruned", revision=meta.name_of(rev))

    async def _sync_nodes(
        self, ds: Obj, delete: Iterable[Obj], create_on: Iterable[str], hash_: str
    ) -> bool:
        """syncNodes: creates in slow-start batches (1, 2, 4, ...), stopping at the first batch
        with an error, then all deletes concurrently. Returns whether anything was attempted."""
        to_delete = list(delete)
        nodes = list(create_on)
        if not to_delete and not nodes:
            return False
        key = object_key(ds)
        self.expectations.expect(
            key, adds=len(nodes), deletes=[meta.uid_of(p) for p in to_delete], now=self.clock()
        )
        pos, batch = 0, 1
        create_error: APIError | None = None
        while pos < len(nodes):
            chunk = nodes[pos : pos + batch]
            results = await asyncio.gather(
                *(self._create_pod(ds, n, hash_) for n in chunk), return_exceptions=True
            )
            failed = sum(1 for r in results if isinstance(r, BaseException))
            create_error = create_error or next(
                (r for r in results if isinstance(r, APIError)), None
            )
            if failed:
                skipped = len(nodes) - pos - len(chunk)
                self.expectations.lower_adds(key, failed + skipped)  # never coming
                if skipped:
                    log.info("daemon_pod_creates_skipped", skipped=skipped)
                break
            pos += len(chunk)
            batch *= 2
        # All deletes at once, as kube-controller-manager does (one goroutine per delete): one
        # after another, 1,000 deletes (each with its event) held the rollout for ~100 s.
        deleted = await asyncio.gather(
            *(self._delete_pod(ds, pod) for pod in to_delete), return_exceptions=True
        )
        for result in deleted:
            if isinstance(result, BaseException):
                raise result  # the first error; every delete was attempted
        if create_error is not None:
            raise create_error  # retried with back-off (FailedCreate events say why)
        return True

    async def _create_pod(self, ds: Obj, node_name: str, hash_: str) -> Obj:
        pod = plan.new_pod(ds, node_name=node_name, hash_=hash_)
        try:
            created = await self.registry.create("pods", pod, namespace=meta.namespace_of(ds))
        except APIError as exc:
            await self._event(ds, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            log.warning("daemon_pod_create_failed", node=node_name)
            raise
        await self._event(ds, "Normal", "SuccessfulCreate", f"Created pod: {meta.name_of(created)}")
        log.info("daemon_pod_created", pod=meta.name_of(created), node=node_name)
        return created

    async def _delete_pod(self, ds: Obj, pod: Obj) -> None:
        try:
            await self.registry.delete(
                "pods", meta.namespace_of(pod), meta.name_of(pod), uid=meta.uid_of(pod)
            )
        except NotFound:
            self.expectations.gone(meta.uid_of(pod))
            return
        except APIError as exc:
            self.expectations.gone(meta.uid_of(pod))
            await self._event(ds, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        await self._event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {meta.name_of(pod)}")
        log.info("daemon_pod_deleted", pod=meta.name_of(pod))

    async def _write_status(
        self,
        ds: Obj,
        nodes: list[Obj],
        daemon_pods: list[Obj],
        hash_: str,
        *,
        observed: bool,
        conditions: list[Obj] | None = None,
        computed: Obj | None = None,
    ) -> Obj:
        """Write the computed status (`computed` when this sync has it already, and the guard's
        conditions, when given); on a conflict retry once onto the fresh object, keeping
        observedGeneration at the generation this sync acted on (storeDaemonSetStatus)."""
        new = (
            dict(computed)
            if computed is not None
            else status.compute_status(
                ds=ds,
                nodes=nodes,
                daemon_pods=daemon_pods,
                hash_=hash_,
                now=self.clock(),
                observed=observed,
            )
        )
        if conditions is not None:
            new["conditions"] = conditions
        keys = (*status.COUNTS, "observedGeneration", "conditions")
        ours = {k: new[k] for k in keys if k in new and (k != "conditions" or conditions)}
        target = ds
        for attempt in range(2):
            merged = {**(target.get("status") or {}), **ours}
            if not status.status_changed(target, merged):
                return new
            updated = dict(target)
            updated["status"] = merged
            try:
                await self.registry.update("daemonsets", updated, subresource="status")
                return new
            except Conflict:
                if attempt:
                    raise
                target = await self.registry.get(
                    "daemonsets", meta.namespace_of(ds), meta.name_of(ds)
                )
                if meta.uid_of(target) != meta.uid_of(ds):
                    return new
        return new

    async def _event(self, ds: Obj, type_: str, reason: str, message: str) -> None:
        now = self.clock()
        if not self.spam.allow((meta.uid_of(ds), type_, reason), now=now):
            return  # a flood of one kind of event about one DaemonSet (client-go spam filter)
        try:
            await self.record_event(
                self.registry,
                involved=ds,
                type=type_,
                reason=reason,
                message=message,
                now=now,
                component=COMPONENT,
            )
        except APIError:
            log.warning("event_record_failed", reason=reason)


def _node_changed(old: Obj, new: Obj) -> bool:
    """Only labels, taints and the name decide whether a node runs a daemon pod."""
    return (
        meta.labels_of(old) != meta.labels_of(new)
        or (old.get("spec") or {}).get("taints") != (new.get("spec") or {}).get("taints")
        or meta.name_of(old) != meta.name_of(new)
    )


def _fmt(key: Key) -> str:
    return f"{key[0]}/{key[1]}"
