"""The server source: watch the pods bound to this node, send each set (kubelet apiserver.go).

Owns list+watch with fieldSelector spec.nodeName=NODE, resuming from the last resourceVersion,
relisting on 410 Gone, reconnecting with exponential backoff and jitter. Each change sends a full
SourceUpdate(API) without mirror pods, and checkpoints it (in the background, newest set wins:
the watch never waits for a disk); at boot, when the server cannot be
listed, the checkpoint's pods are sent so they run (no checkpoint, or a corrupt one, sends
nothing: the source stays not seen, as kubelet's, so nothing is removed as an orphan for it). The
mirror pods seen are kept in `view` for the pod reporter. Never reconciles anything itself.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from nodeagent.agent.apiclient import ApiClient, Unreachable, resource_path
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from nodeagent.api.meta import is_mirror_pod

log = structlog.get_logger()


@dataclass(slots=True, kw_only=True)
class ServerPodsView:
    """The latest pods bound to this node as the server has them (the reporter reads this)."""

    pods: dict[str, Obj] = field(default_factory=dict)  # uid -> pod, mirror pods included
    synced: bool = False  # a list has succeeded at least once
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def mirror_pods(self) -> dict[str, Obj]:
        """Mirror pods by name."""
        return {p["metadata"]["name"]: p for p in self.pods.values() if is_mirror_pod(p)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.2  # +-20%

    def delay(self, failures: int) -> float:
        base = min(self.maximum, self.initial * (2 ** max(0, failures - 1)))
        return float(base * (1 + random.uniform(-self.jitter, self.jitter)))


@dataclass(slots=True)
class CheckpointWriter:
    """Writes each set of pods to the checkpoint in a thread, off the watch's path; a set
    offered while a write runs waits, and only the newest waiting one is written (the file
    only has to end up as the source's latest set). A watch that waited on each fsync saw
    its next event late: a rollout's delete and create are two sets, back to back."""

    save: Callable[[str, Sequence[Obj]], object]
    state_dir: str
    waiting: tuple[Obj, ...] | None = None
    task: asyncio.Task[None] | None = None

    def offer(self, pods: tuple[Obj, ...]) -> None:
        self.waiting = pods
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._write_waiting())

    async def _write_waiting(self) -> None:
        while self.waiting is not None:
            pods, self.waiting = self.waiting, None
            try:
                await asyncio.to_thread(self.save, self.state_dir, list(pods))
            except Exception as e:  # a checkpoint failure must not stop the source
                log.warning("checkpoint_save_failed", error=str(e))


def desired_pods(pods: dict[str, Obj]) -> tuple[Obj, ...]:
    """The pods this source asks the agent to run: not mirror pods, in a stable order."""
    wanted = [p for p in pods.values() if not is_mirror_pod(p)]
    wanted.sort(key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"]))
    return tuple(wanted)


async def run_api_source(
    *,
    client: ApiClient,
    node_name: str,
    state_dir: str,
    queue: asyncio.Queue[SourceUpdate],
    view: ServerPodsView,
    save_checkpoint: Callable[[str, Sequence[Obj]], object],
    load_checkpoint: Callable[[str], Sequence[Obj] | None],
    watch_timeout: int = 300,
    backoff: Backoff | None = None,
) -> None:
    """Run until cancelled: list, then watch from the list's resourceVersion, relist on 410."""
    backoff = backoff or Backoff()
    path = resource_path("pods")
    selector = {"fieldSelector": f"spec.nodeName={node_name}"}
    sent: tuple[Obj, ...] | None = None
    failures = 0
    resource_version = ""
    loop = asyncio.get_running_loop()
    checkpoints = CheckpointWriter(save_checkpoint, state_dir)

    async def publish() -> None:
        nonlocal sent
        pods = desired_pods(view.pods)
        view.changed.set()
        if pods == sent:
            return
        sent = pods
        await queue.put(SourceUpdate(source=SourceName.API, pods=pods))
        checkpoints.offer(pods)

    try:
        while True:
            try:
                if not resource_version:
                    listed = await client.list(path, params=selector)
                    view.pods = {p["metadata"]["uid"]: p for p in listed.get("items") or []}
                    view.synced = True
                    resource_version = str(
                        (listed.get("metadata") or {}).get("resourceVersion", "")
                    )
                    log.info(
                        "api_pods_listed", count=len(view.pods), resource_version=resource_version
                    )
                    await publish()
                params = {
                    **selector,
                    "resourceVersion": resource_version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": str(watch_timeout),
                }
                started, events = loop.time(), 0
                async for event in client.watch(
                    path, params=params, read_timeout=watch_timeout + 30
                ):
                    failures, events = 0, events + 1
                    meta = event.object.get("metadata") or {}
                    resource_version = str(meta.get("resourceVersion") or resource_version)
                    if event.type in ("ADDED", "MODIFIED"):
                        view.pods[meta["uid"]] = event.object
                    elif event.type == "DELETED":
                        view.pods.pop(meta.get("uid", ""), None)
                    else:
                        continue
                    await publish()
                if not events and loop.time() - started < min(1.0, watch_timeout):
                    failures += 1  # a watch that ends at once, empty: do not spin on it
                    await asyncio.sleep(backoff.delay(failures))
            except errors.Gone:
                log.info("api_watch_expired", resource_version=resource_version)
                resource_version = ""
            except (Unreachable, errors.APIError) as e:
                failures += 1
                if sent is None and failures == 1:
                    sent = await _send_checkpoint(queue, state_dir, load_checkpoint)
                delay = backoff.delay(failures)
                level = log.warning if failures <= 3 else log.debug
                level(
                    "api_source_failed", error=str(e), failures=failures, retry_in=round(delay, 2)
                )
                await asyncio.sleep(delay)
    finally:
        # The newest set reaches the disk before the source goes (bounded: a hung disk must
        # not hold up the agent's stop).
        if checkpoints.task is not None and not checkpoints.task.done():
            await asyncio.wait({checkpoints.task}, timeout=5)


async def _send_checkpoint(
    queue: asyncio.Queue[SourceUpdate],
    state_dir: str,
    load_checkpoint: Callable[[str], Sequence[Obj] | None],
) -> tuple[Obj, ...] | None:
    """Boot with the server away: run what the server last wanted here. Nothing is sent
    when `load_checkpoint` gives None (a checkpoint it could not trust) or fails."""
    try:
        loaded = await asyncio.to_thread(load_checkpoint, state_dir)
    except Exception as e:  # never fatal here; the source stays not seen
        log.warning("checkpoint_load_failed", error=str(e))
        loaded = None
    if loaded is None:
        log.warning("api_source_not_seen", reason="no trustworthy checkpoint: waits for the server")
        return None
    pods = tuple(loaded)
    log.info("api_source_from_checkpoint", count=len(pods))
    await queue.put(SourceUpdate(source=SourceName.API, pods=pods))
    return pods
