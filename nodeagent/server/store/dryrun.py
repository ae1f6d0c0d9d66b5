"""A Store that reads through to another and writes nothing: the server's `dryRun=All`.

A registry over `DryRunStore(store)` runs every rule of a real write (defaults, validation,
admission, CAS and name checks, graceful deletion) and returns the object that would have been
stored, as kube-apiserver does for `kubectl --dry-run=server`. Nothing is written and no
watcher sees an event. A dry-run create returns the object without a resourceVersion; a dry-run
update keeps the stored one.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import NotFound
from nodeagent.server.store.errors import already_exists, conflict
from nodeagent.server.store.protocol import Store, WatchEvent


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class DryRunStore:
    """Store (store/protocol.py) whose writes are checked against `store` and then dropped."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def resource_version(self) -> int:
        return self._store.resource_version

    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        return await self._store.get(resource, namespace, name)

    async def list(
        self, resource: str, *, namespace: str | None = None, node_name: str | None = None
    ) -> tuple[list[Obj], int]:
        return await self._store.list(resource, namespace=namespace, node_name=node_name)

    async def create(self, resource: str, obj: Obj) -> Obj:
        namespace, name = _key(obj)
        try:
            await self._store.get(resource, namespace, name)
        except NotFound:
            out = copy.deepcopy(obj)
            meta = out.setdefault("metadata", {})
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.pop("resourceVersion", None)
            return out
        raise already_exists(resource, name)

    async def update(self, resource: str, obj: Obj) -> Obj:
        namespace, name = _key(obj)
        current = await self._store.get(resource, namespace, name)
        stored_rv = str((current.get("metadata") or {}).get("resourceVersion") or "")
        wanted = (obj.get("metadata") or {}).get("resourceVersion")
        if wanted not in (None, "") and str(wanted) != stored_rv:
            raise conflict(resource, name)
        out = copy.deepcopy(obj)
        out.setdefault("metadata", {})["resourceVersion"] = stored_rv
        return out

    async def delete(
        self, resource: str, namespace: str, name: str, *, resource_version: int | None = None
    ) -> Obj:
        current = await self._store.get(resource, namespace, name)
        stored_rv = str((current.get("metadata") or {}).get("resourceVersion") or "")
        if resource_version is not None and str(resource_version) != stored_rv:
            raise conflict(resource, name)
        return current

    def watch(
        self,
        resource: str,
        *,
        since: int,
        namespace: str | None = None,
        node_name: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        return self._store.watch(resource, since=since, namespace=namespace, node_name=node_name)

    async def close(self) -> None:
        """The wrapped store belongs to the server: nothing to close here."""
