"""Everything the agent does with the server, started as one task: `run_server_sync`.

Owns the wiring (the API pod source, the node reporter, the lease, the pod sync as named tasks)
and the pod side: the thin executor of podsyncplan.py's PURE `plan_pod_sync` (pod statuses,
mirror pods for static pods, deletion confirms, warning events for rejected manifests); it also
posts the pod events the executor queued (image pulls) ahead of the status writes, so they list
in the order they happened. A server that is away only delays these writes (events are best
effort); nothing here touches a running container.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import structlog

from nodeagent import failpoints
from nodeagent.agent import checkpoint
from nodeagent.agent.apiclient import ApiClient, Unreachable, resource_path
from nodeagent.agent.conditions import parse_thresholds
from nodeagent.agent.credentials import NodeCredential
from nodeagent.agent.objectcache import ObjectCache
from nodeagent.agent.podevents import PodEvent, event_key, pod_event, pod_events
from nodeagent.agent.podsyncplan import (
    CreateMirror,
    DeletePod,
    PodAction,
    PostEvent,
    PostKilling,
    PutStatus,
    Reported,
    config_hash,
    mirror_pod,
    plan_pod_sync,
)
from nodeagent.agent.reporter import (
    NodeReporter,
    heartbeat_timeout,
    node_event,
    reporter_config,
)
from nodeagent.agent.satokens import TokenManager
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.sources.apiserver import ServerPodsView, run_api_source
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.state import AgentState
from nodeagent.agent.statedirwrites import StateDirWrites
from nodeagent.agent.statusmerge import merged_status, owned_status, pod_gates
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from nodeagent.api.meta import is_mirror_pod, metadata_of
from nodeagent.api.timefmt import format_time

if TYPE_CHECKING:  # the serving port (and cryptography) loads only when the daemon runs it
    from nodeagent.agent.servingport import ServingPort

MANIFEST_EVENT_REASON = "FailedToLoadManifest"
MIRROR_REFUSED_REASON = "FailedToCreateMirrorPod"
STATIC_SOURCES = (SourceName.FILE, SourceName.HTTP)
EVENTS_REMEMBERED = 4096  # kinds of pod events whose count is kept (client-go's correlator cache)

log = structlog.get_logger()


@dataclass(slots=True, kw_only=True)
class PodSync:
    """Applies plan_pod_sync's actions; the only writer of pods (and events) on the server."""

    client: ApiClient
    state: AgentState
    view: ServerPodsView
    reporter: NodeReporter
    reported: Reported = field(default_factory=Reported)
    tick: float = 1.0
    # event_key -> (Event name, count) of the pod events written, newest last (bounded)
    events_written: dict[str, tuple[str, int]] = field(default_factory=dict)

    async def run(self) -> None:
        while True:
            await self.sync_once()
            waits = [
                asyncio.ensure_future(e.wait()) for e in (self.state.changed, self.view.changed)
            ]
            try:
                await asyncio.wait(waits, timeout=self.tick, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            self.state.changed.clear()
            self.view.changed.clear()

    async def sync_once(self) -> None:
        expected = self.state.sources_expected & set(STATIC_SOURCES)
        known = {r.origin: r.error for r in self.state.rejected.values()}
        for origin in list(self.reported.rejections):
            if origin not in known:
                del self.reported.rejections[origin]
        self.reported.deleting &= set(self.view.pods)
        self.reported.killing &= set(self.view.pods)
        for uid in set(self.reported.statuses) - set(self.view.pods):
            del self.reported.statuses[uid]
        for uid in set(self.reported.mirror_refused) - set(self.state.pods):
            del self.reported.mirror_refused[uid]
        await self._post_queued_events()
        actions = plan_pod_sync(
            records=dict(self.state.pods),
            server_pods=dict(self.view.pods),
            server_synced=self.view.synced and self.reporter.registered.is_set(),
            static_sources_synced=expected <= self.state.sources_seen,
            static_wanted=self.state.static_wanted,
            api_seen=SourceName.API in self.state.sources_seen,
            reported=self.reported,
            rejected=known,
            now=time.time(),
        )
        for action in actions:
            try:
                await self._apply(action)
            except (Unreachable, errors.APIError) as e:
                self.reporter.warnings.failed(
                    "pod_sync_failed", action=type(action).__name__, error=str(e)
                )

    async def _apply(self, action: PodAction) -> None:
        if isinstance(action, PutStatus):
            await self._put_status(action)
        elif isinstance(action, CreateMirror):
            await self._create_mirror(action)
        elif isinstance(action, DeletePod):
            await self._delete(action)
        elif isinstance(action, PostKilling):
            self.reported.killing.add(action.uid)
            pod = self.view.pods.get(action.uid)
            if pod is not None:
                killing = [
                    ("Normal", "Killing", f"Stopping container {c}") for c in action.containers
                ]
                await self._post_pod_events(pod, killing)
        else:
            await self._post_event(action)

    def _event_pod(self, uid: str) -> Obj | None:
        """The server pod an event about pod `uid` is posted on: an API pod itself, a static
        pod's mirror pod (found by name); None when there is none (yet)."""
        record = self.state.pods.get(uid)
        if record is None or record.source == SourceName.API:
            return self.view.pods.get(uid)
        key = (
            metadata_of(record.pod).get("namespace") or "default",
            metadata_of(record.pod).get("name"),
        )
        return next(
            (
                p
                for p in self.view.pods.values()
                if is_mirror_pod(p)
                and (metadata_of(p).get("namespace") or "default", metadata_of(p).get("name"))
                == key
            ),
            None,
        )

    async def _post_queued_events(self) -> None:
        """Post the events the executor queued, oldest first. A static pod's events wait while
        its mirror pod is not there yet; events of a pod the agent no longer has are dropped,
        and so is the rest of the queue when the server cannot be reached (best effort)."""
        queued, kept = self.state.pod_events, []
        while queued:
            uid, found = queued.popleft()
            pod = self._event_pod(uid)
            if pod is None:
                record = self.state.pods.get(uid)
                refused = uid in self.reported.mirror_refused  # no mirror pod will come
                if record is not None and record.source != SourceName.API and not refused:
                    kept.append((uid, found))
            elif not await self._post_pod_events(pod, [found]):
                log.debug("pod_events_dropped", count=len(queued), why="server unreachable")
                queued.clear()  # one wait for an absent server per pass, not one per event
        queued.extendleft(reversed(kept))

    async def _put_status(self, action: PutStatus) -> None:
        path = resource_path(
            "pods", namespace=action.namespace, name=action.name, subresource="status"
        )
        pod = self.view.pods.get(action.uid) or await self.client.get(
            resource_path("pods", namespace=action.namespace, name=action.name)
        )
        status = action.status  # merged with the view's copy; merged again with a newer one
        for _attempt in range(3):
            if metadata_of(pod).get("uid") != action.uid:
                return  # replaced by another pod of the same name
            body = copy.deepcopy(pod)
            body["status"] = status
            try:
                written = await self.client.update(path, body)
                failpoints.hit("after-status-write")
                before = self.reported.statuses.get(action.uid) or pod.get("status")
                self.reported.statuses[action.uid] = owned_status(status)
                if action.uid in self.view.pods and metadata_of(written).get("uid") == action.uid:
                    self.view.pods[action.uid] = written  # ahead of the watch: no second PUT
                await self._post_pod_events(pod, pod_events(pod, before, status))
                return
            except errors.Conflict:
                pod = await self.client.get(
                    resource_path("pods", namespace=action.namespace, name=action.name)
                )
                status = merged_status(pod.get("status"), status, pod_gates(pod), now=time.time())
            except errors.NotFound:
                return

    async def _post_pod_events(self, pod: Obj, found_events: list[PodEvent]) -> bool:
        """kubelet's pod events (best effort). A repeat that this agent wrote before bumps
        that Event's count (a node may not read events: counted here). False when the server
        could not be reached."""
        reached = True
        for found in found_events:
            key, now = event_key(pod, found), time.time()
            try:
                written = self.events_written.pop(key, None)
                if written is not None and await self._bump_event(pod, written, now):
                    self.events_written[key] = (written[0], written[1] + 1)
                    continue
                event = pod_event(pod, found, node_name=self.state.node_name, now=now)
                await self.client.create(
                    resource_path("events", namespace=event["metadata"]["namespace"]), event
                )
                self.events_written[key] = (event["metadata"]["name"], 1)
                while len(self.events_written) > EVENTS_REMEMBERED:
                    del self.events_written[next(iter(self.events_written))]
            except (Unreachable, errors.APIError) as e:
                reached = reached and not isinstance(e, Unreachable)
                log.info("pod_event_not_recorded", reason=found[1], error=str(e))
        return reached

    async def _bump_event(self, pod: Obj, written: tuple[str, int], now: float) -> bool:
        """count + 1 on an Event written before; False when it is gone (expired, deleted)."""
        name, count = written
        path = resource_path(
            "events", namespace=metadata_of(pod).get("namespace") or "default", name=name
        )
        try:
            await self.client.patch(path, {"count": count + 1, "lastTimestamp": format_time(now)})
        except errors.NotFound:
            return False
        return True

    async def _create_mirror(self, action: CreateMirror) -> None:
        record = self.state.pods.get(action.uid)
        if record is None:
            return
        body = mirror_pod(
            record, node_name=self.state.node_name, node_owner=self.reporter.node_owner_reference()
        )
        namespace = metadata_of(body).get("namespace") or "default"
        try:
            created = await self.client.create(resource_path("pods", namespace=namespace), body)
        except errors.AlreadyExists:
            return  # the watch will show it; the next sync compares its hash
        except errors.Forbidden as e:  # asking again gets the same answer: say so once
            self.reported.mirror_refused[action.uid] = config_hash(record.pod)
            name = metadata_of(body)["name"]
            log.warning("mirror_pod_refused", pod=name, namespace=namespace, error=str(e))
            event = node_event(
                node_name=self.state.node_name,
                reason=MIRROR_REFUSED_REASON,
                message=f"static pod {namespace}/{name} runs without a mirror pod: {e}",
                kind="Warning",
                now=time.time(),
            )
            await self.client.create(resource_path("events", namespace="default"), event)
            return
        self.view.pods[str(metadata_of(created).get("uid"))] = created
        log.info("mirror_pod_created", pod=metadata_of(body)["name"], namespace=namespace)

    async def _delete(self, action: DeletePod) -> None:
        options = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": action.uid},
        }
        path = resource_path("pods", namespace=action.namespace, name=action.name)
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(path, options=options)
        self.reported.deleting.add(action.uid)
        log.info(
            "pod_deleted_on_server", pod=action.name, namespace=action.namespace, why=action.why
        )

    async def _post_event(self, action: PostEvent) -> None:
        message = (
            action.error
            if action.error.startswith(action.origin)
            else f"{action.origin}: {action.error}"
        )
        event = node_event(
            node_name=self.state.node_name,
            reason=MANIFEST_EVENT_REASON,
            message=message,
            kind="Warning",
            now=time.time(),
        )
        await self.client.create(resource_path("events", namespace="default"), event)
        self.reported.rejections[action.origin] = action.error


@dataclass(slots=True, kw_only=True)
class CheckpointKeeper:
    """The API source's checkpoint calls (run in threads), reporting a corrupt one to the
    state (the CheckpointCorrupt condition and a Warning event, reporter.py) and a failed
    write to `writes` (StateDirUnwritable; retried there)."""

    state: AgentState
    writes: StateDirWrites | None = None  # None: a failed write raises

    def load(self, state_dir: str) -> list[Obj] | None:
        """The checkpointed pods; None (the source stays not seen, as kubelet's until the
        server answers) when there is no checkpoint or it is corrupt."""
        try:
            return checkpoint.load_checkpoint(state_dir)
        except checkpoint.CheckpointCorrupt as e:
            message = f"server pods not started from a corrupt checkpoint: {e}"
            self.state.checkpoint_corrupt = message
            self.state.node_events.append(("Warning", checkpoint.CORRUPT_REASON, message))
            return None  # the API source stays not seen: nothing runs from it or stops for it

    def save(self, state_dir: str, pods: Sequence[Obj]) -> None:
        """Checkpoint `pods`; a write that fails is recorded and retried by `writes`."""
        if self.writes is None:
            self._save(state_dir, pods)
            return
        path = str(checkpoint.checkpoint_path(state_dir))
        self.writes.write(path, partial(self._save, state_dir, list(pods)))

    def _save(self, state_dir: str, pods: Sequence[Obj]) -> None:
        checkpoint.save_checkpoint(state_dir, pods)
        corrupt = self.state.checkpoint_corrupt
        if corrupt is not None:
            self.state.checkpoint_corrupt, self.state.checkpoint_rewritten = None, corrupt


async def run_server_sync(
    *,
    settings: AgentSettings,
    state: AgentState,
    queue: asyncio.Queue[SourceUpdate],
    watch_timeout: int = 300,
    tick: float = 1.0,
    serving: ServingPort | None = None,
    objects: ObjectCache | None = None,
    tokens: TokenManager | None = None,
    writes: StateDirWrites | None = None,
) -> None:
    """Run until cancelled: the API pod source, node registration, status, lease, pod sync,
    the node credential's rotation (the first request enrols when there is none), and
    `serving` (the TLS port, whose certificate the server signs through this client); `tokens`
    ask TokenRequest through this client while it runs. The checkpoint and the credential are
    written through `writes` (the daemon's, which retries them; a new one when None)."""
    if not settings.server_url:
        raise ValueError("run_server_sync needs settings.server_url")
    writes = writes or StateDirWrites(state=state)
    credential = NodeCredential(
        node_name=settings.node_name,
        state_dir=settings.state_dir,
        join_secret=settings.join_secret,
        writes=writes,
    )
    client = ApiClient(
        server_url=settings.server_urls or settings.server_url,
        token=credential,
        ca_file=settings.ca_file,
    )
    heartbeats = ApiClient(
        server_url=settings.server_urls or settings.server_url,
        token=credential,
        ca_file=settings.ca_file,
        timeout=heartbeat_timeout(settings.status_update_interval),
    )
    thresholds = parse_thresholds(settings.eviction_hard)
    config = reporter_config(settings=settings, thresholds=thresholds, tick=tick)
    reporter = NodeReporter(client=client, config=config, state=state, heartbeats=heartbeats)
    view = ServerPodsView()
    pods = PodSync(client=client, state=state, view=view, reporter=reporter, tick=tick)
    if tokens is not None:
        tokens.client = client
    saved = CheckpointKeeper(state=state, writes=writes)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(
                run_api_source(
                    client=client,
                    node_name=settings.node_name,
                    state_dir=settings.state_dir,
                    queue=queue,
                    view=view,
                    save_checkpoint=saved.save,
                    load_checkpoint=saved.load,
                    watch_timeout=watch_timeout,
                ),
                name="api-source",
            )
            tg.create_task(reporter.register(), name="node-register")
            tg.create_task(reporter.run_status(), name="node-status")
            tg.create_task(reporter.run_lease(), name="node-lease")
            tg.create_task(pods.run(), name="pod-sync")
            if serving is not None:
                tg.create_task(serving.run(client), name="serving-port")
            tg.create_task(credential.run_rotation(client), name="credential-rotation")
            if objects is not None:  # the ConfigMaps and Secrets this node's pods reference
                tg.create_task(objects.run_api(client), name="object-watch")
    finally:
        if tokens is not None:
            tokens.client = None
        await client.close()
        await heartbeats.close()
