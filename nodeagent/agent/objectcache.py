"""The ConfigMaps and Secrets this node's pods read: from the server, and from manifest files.

kubelet's configmap/secret managers with the Watch strategy, in small: for each object a pod
from the server references, one list + watch with `fieldSelector=metadata.name=NAME` (what the
node authorizer lets a node read), started when the first pod names it and stopped when the
last one goes. Objects carried in a manifest file serve that file's pods only. A change calls
`on_change` (the volumes are written again and containers waiting on a missing reference are
retried). The values from the server are kept in `STATE/objects.json` (0600 in the 0700 state
dir) so that pods from the checkpoint start with the server away; they are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import quote

import structlog

from nodeagent.agent.aio import raise_if_cancelling
from nodeagent.agent.apiclient import ApiClient, Unreachable
from nodeagent.agent.sources.manifest import ORIGIN_ANNOTATION
from nodeagent.agent.statedirwrites import StateDirWrites
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from nodeagent.api.projection import ObjectKey, Objects, object_data, pod_references
from nodeagent.privatefiles import write_private

log = structlog.get_logger()
SAVED_NAME = "objects.json"
_SAVED_KIND = "NodeagentObjectCache"
RESOURCE = {"ConfigMap": "configmaps", "Secret": "secrets"}
SYNC_WAIT = 2.0  # seconds a start waits for a new watch's first list (kubelet waits ~1 s)


def object_key(obj: Obj) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace") or "default"), str(meta.get("name")))


def _path(kind: str, namespace: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/{RESOURCE[kind]}"


def file_origin(pod: Obj) -> str | None:
    """The manifest file a static pod came from (None for the server's pods)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if annotations.get("kubernetes.io/config.source") != "file":
        return None
    return str(annotations.get(ORIGIN_ANNOTATION) or "") or None


@dataclass(slots=True, kw_only=True)
class ObjectCache:
    state_dir: str
    on_change: Callable[[], None] = lambda: None
    writes: StateDirWrites | None = None  # records (and retries) a failed save; None: logged
    api: dict[ObjectKey, dict[str, bytes]] = field(default_factory=dict)
    synced: set[ObjectKey] = field(default_factory=set)  # watched keys whose list came back
    files: dict[str, dict[ObjectKey, dict[str, bytes]]] = field(default_factory=dict)
    wanted: frozenset[ObjectKey] = frozenset()
    _wanted_changed: asyncio.Event = field(default_factory=asyncio.Event)
    _synced_changed: asyncio.Event = field(default_factory=asyncio.Event)

    # ---- what the pods read -------------------------------------------------------------
    def objects_for(self, pod: Obj) -> Objects:
        """The objects `pod` may read: its file's for a static pod, else the server's."""
        origin = file_origin(pod)
        if origin is not None:
            return self.files.get(origin, {})
        refs = pod_references(pod)
        return {k: v for k, v in self.api.items() if k in refs}

    async def ready_for(self, pod: Obj, *, timeout: float = SYNC_WAIT) -> Objects:
        """objects_for(pod) once the watches of its references have listed (or `timeout`
        passed: the values kept from before, if any, are used meanwhile)."""
        if file_origin(pod) is None:
            refs = pod_references(pod)
            self.want(self.wanted | refs)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    while not refs <= self.synced:
                        self._synced_changed.clear()
                        await self._synced_changed.wait()
        return self.objects_for(pod)

    # ---- manifest files -----------------------------------------------------------------
    def set_file_objects(self, by_origin: Mapping[str, Iterable[Obj]]) -> None:
        """The file source's complete set of objects, by manifest file."""
        files = {
            origin: {object_key(o): object_data(o) for o in objects}
            for origin, objects in by_origin.items()
        }
        if files != self.files:
            self.files = files
            self.on_change()

    # ---- the server's objects ----------------------------------------------------------
    def want_for_pods(self, pods: Iterable[Obj]) -> None:
        """The server's pods for this node (a full set): watch what they reference."""
        self.want(frozenset(k for p in pods for k in pod_references(p)))

    def want(self, keys: frozenset[ObjectKey]) -> None:
        if keys != self.wanted:
            self.wanted = keys
            self._wanted_changed.set()

    def set_object(self, key: ObjectKey, obj: Obj | None) -> None:
        """The server's object `key` as a list or watch event has it (None: there is none)."""
        data = None if obj is None else object_data(obj)
        changed = self.api.get(key) != data
        if data is None:
            self.api.pop(key, None)
        else:
            self.api[key] = data
        if key not in self.synced:
            self.synced.add(key)
            self._synced_changed.set()
        if changed:
            log.info("object_changed", kind=key[0], namespace=key[1], name=key[2])
            self._save()
            self.on_change()

    def load_saved(self) -> None:
        """The values kept at the last change (a boot without the server uses them)."""
        path = Path(self.state_dir) / SAVED_NAME
        try:
            body = json.loads(path.read_bytes())
            if body.get("kind") != _SAVED_KIND:
                raise ValueError("not an object cache")
            for entry in body["objects"]:
                key = (str(entry["kind"]), str(entry["namespace"]), str(entry["name"]))
                self.api[key] = {k: base64.b64decode(v) for k, v in entry["data"].items()}
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("object_cache_unreadable", path=str(path), error=type(e).__name__)

    def _save(self) -> None:
        kept = [
            {
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
            }
            for (kind, namespace, name), data in sorted(self.api.items())
            if (kind, namespace, name) in self.wanted
        ]
        body = {"kind": _SAVED_KIND, "version": 1, "objects": kept}
        path = Path(self.state_dir) / SAVED_NAME
        if self.writes is not None:
            self.writes.write(str(path), partial(write_private, path, json.dumps(body).encode()))
            return
        try:
            write_private(path, json.dumps(body).encode())
        except OSError as e:
            log.warning("object_cache_save_failed", error=str(e))

    async def run_api(self, client: ApiClient) -> None:
        """Run until cancelled: one follow task per wanted key."""
        tasks: dict[ObjectKey, asyncio.Task[None]] = {}
        try:
            while True:
                self._wanted_changed.clear()
                dropped = set(tasks) - self.wanted
                for key in dropped:
                    tasks.pop(key).cancel()
                    self.synced.discard(key)
                    self.api.pop(key, None)
                if dropped:
                    self._save()  # no pod needs those values any more: off the disk too
                for key in self.wanted - set(tasks):
                    tasks[key] = asyncio.create_task(
                        self._follow(client, key), name=f"watch-{key[0]}-{key[1]}-{key[2]}"
                    )
                await self._wanted_changed.wait()
        finally:
            for task in tasks.values():
                task.cancel()

    async def _follow(self, client: ApiClient, key: ObjectKey) -> None:
        """List then watch one object by name, resuming, relisting on 410, retrying failures."""
        kind, namespace, name = key
        path = _path(kind, namespace)
        selector = {"fieldSelector": f"metadata.name={name}"}
        version = ""
        failures = 0
        while True:
            try:
                if not version:
                    listed = await client.list(path, params=selector)
                    items = listed.get("items") or []
                    self.set_object(key, {**items[0], "kind": kind} if items else None)
                    version = str((listed.get("metadata") or {}).get("resourceVersion", ""))
                params = {
                    **selector,
                    "resourceVersion": version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": "300",
                }
                async for event in client.watch(path, params=params, read_timeout=330):
                    failures = 0
                    meta = event.object.get("metadata") or {}
                    version = str(meta.get("resourceVersion") or version)
                    if event.type in ("ADDED", "MODIFIED"):
                        self.set_object(key, {**event.object, "kind": kind})
                    elif event.type == "DELETED":
                        self.set_object(key, None)
            except errors.Gone:
                version = ""
            except (Unreachable, errors.APIError) as e:
                raise_if_cancelling()
                failures += 1
                if key not in self.synced:  # a start waiting on it goes on (not found, retried)
                    self.synced.add(key)
                    self._synced_changed.set()
                level = log.warning if failures <= 3 else log.debug
                level(
                    "object_watch_failed",
                    kind=kind,
                    namespace=namespace,
                    name=name,
                    error=str(e),
                    failures=failures,
                )
                await asyncio.sleep(min(30.0, 0.5 * 2**failures) * random.uniform(0.8, 1.2))
