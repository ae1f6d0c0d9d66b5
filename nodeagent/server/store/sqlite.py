"""The SQLite Store: every object in one table, one global resourceVersion, CAS on every write.

Durability: WAL with synchronous=NORMAL. A commit is in the WAL file (the OS page cache) before
the write is acknowledged, so killing the process loses nothing acknowledged; only a power loss
can lose the last commits (the file stays consistent). docs/server.md says why.
Reads are served from an in-memory copy loaded at open (the JSON text of each object); writes
go through one writer thread, serialized by a lock, and are published to watchers on commit.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import structlog

from nodeagent.api.errors import AlreadyExists, Conflict, NotFound
from nodeagent.api.resources import BY_NAME
from nodeagent.server.store.protocol import EventType, Obj, WatchEvent
from nodeagent.server.store.watchcache import WatchCache

log = structlog.get_logger()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    node_name TEXT NOT NULL DEFAULT '',
    resource_version INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE INDEX IF NOT EXISTS objects_by_node ON objects (resource, node_name);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('resourceVersion', 0);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Row:
    resource_version: int
    node_name: str
    text: str


def _qualified(resource: str) -> str:
    r = BY_NAME.get(resource)
    return r.qualified_name if r else resource


def _node_name(resource: str, obj: Obj) -> str:
    if resource != "pods":
        return ""
    return str((obj.get("spec") or {}).get("nodeName") or "")


def conflict(resource: str, name: str) -> Conflict:
    """The 409 the API server answers for a stale resourceVersion."""
    r = BY_NAME.get(resource)
    return Conflict(
        f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        name=name,
        group=r.group if r else "",
        kind=resource,
    )


def already_exists(resource: str, name: str) -> AlreadyExists:
    """The 409 the API server answers for a create of a taken name."""
    r = BY_NAME.get(resource)
    return AlreadyExists(
        f'{_qualified(resource)} "{name}" already exists',
        name=name,
        group=r.group if r else "",
        kind=resource,
    )


def not_found(resource: str, name: str) -> NotFound:
    r = BY_NAME.get(resource)
    return NotFound(
        f'{_qualified(resource)} "{name}" not found',
        name=name,
        group=r.group if r else "",
        kind=resource,
    )


class SqliteStore:
    """Store (store/protocol.py) over one SQLite file; open with `await SqliteStore.open(...)`."""

    def __init__(self, conn: sqlite3.Connection, *, watch_window: int) -> None:
        self._conn = conn
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._lock = asyncio.Lock()
        self._rows: dict[str, dict[tuple[str, str], _Row]] = {}
        self._by_node: dict[str, set[tuple[str, str]]] = {}
        rv_row = conn.execute("SELECT value FROM counters WHERE name='resourceVersion'").fetchone()
        self._rv = int(rv_row[0])
        for resource, namespace, name, node, rv, text in conn.execute(
            "SELECT resource, namespace, name, node_name, resource_version, json FROM objects"
        ):
            self._remember(
                resource, (namespace, name), _Row(resource_version=rv, node_name=node, text=text)
            )
        self._cache = WatchCache(capacity=watch_window, start=self._rv)

    @classmethod
    async def open(cls, path: Path, *, watch_window: int = 10_000) -> SqliteStore:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            return conn

        conn = await asyncio.to_thread(connect)
        store = cls(conn, watch_window=watch_window)
        log.info("store_opened", path=str(path), resource_version=store.resource_version)
        return store

    @property
    def resource_version(self) -> int:
        return self._rv

    # ---- reads (from memory) ----

    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        row = self._rows.get(resource, {}).get((namespace, name))
        if row is None:
            raise not_found(resource, name)
        obj: Obj = json.loads(row.text)
        return obj

    async def list(
        self, resource: str, *, namespace: str | None = None, node_name: str | None = None
    ) -> tuple[list[Obj], int]:
        rows = self._rows.get(resource, {})
        if node_name is not None and resource == "pods":
            keys = sorted(self._by_node.get(node_name, set()))
        else:
            keys = sorted(rows)
        items = [
            json.loads(rows[k].text)
            for k in keys
            if k in rows and (namespace is None or k[0] == namespace)
        ]
        return items, self._rv

    # ---- writes (CAS, one writer) ----

    async def create(self, resource: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        key = (str(meta.get("namespace") or ""), str(meta["name"]))

        async def commit() -> Obj:
            if key in self._rows.get(resource, {}):
                raise already_exists(resource, key[1])
            meta.setdefault("uid", str(uuid.uuid4()))
            return await self._write(resource, key, obj, "ADDED", None)

        return await self._serialized(commit)

    async def update(self, resource: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        key = (str(meta.get("namespace") or ""), str(meta["name"]))

        async def commit() -> Obj:
            row = self._rows.get(resource, {}).get(key)
            if row is None:
                raise not_found(resource, key[1])
            wanted = meta.get("resourceVersion")
            if wanted not in (None, "") and str(wanted) != str(row.resource_version):
                raise conflict(resource, key[1])
            return await self._write(resource, key, obj, "MODIFIED", row)

        return await self._serialized(commit)

    async def delete(
        self, resource: str, namespace: str, name: str, *, resource_version: int | None = None
    ) -> Obj:
        key = (namespace, name)

        async def commit() -> Obj:
            row = self._rows.get(resource, {}).get(key)
            if row is None:
                raise not_found(resource, name)
            if resource_version is not None and resource_version != row.resource_version:
                raise conflict(resource, name)
            obj: Obj = json.loads(row.text)
            return await self._write(resource, key, obj, "DELETED", row)

        return await self._serialized(commit)

    async def _serialized(self, commit: Callable[[], Awaitable[Obj]]) -> Obj:
        """Run one check-and-write under the writer lock, shielded: a caller cancelled
        mid-write never leaves the file and the memory copy apart."""

        async def locked() -> Obj:
            async with self._lock:
                return await commit()

        return await asyncio.shield(asyncio.ensure_future(locked()))

    async def _write(
        self, resource: str, key: tuple[str, str], obj: Obj, kind: EventType, old: _Row | None
    ) -> Obj:
        rv = self._rv + 1
        obj["metadata"]["resourceVersion"] = str(rv)
        text = json.dumps(obj, separators=(",", ":"))
        node = _node_name(resource, obj)
        uid = str(obj["metadata"].get("uid", ""))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._executor, self._persist, resource, key, uid, node, rv, text, kind == "DELETED"
        )
        self._rv = rv
        if old is not None:
            self._forget(resource, key, old)
        if kind != "DELETED":
            self._remember(resource, key, _Row(resource_version=rv, node_name=node, text=text))
        self._cache.publish(
            resource=resource,
            namespace=key[0],
            type=kind,
            resource_version=rv,
            text=text,
            prev_text=old.text if old is not None else None,
            nodes=frozenset(n for n in (node, old.node_name if old else "") if n),
        )
        return obj

    def _persist(
        self,
        resource: str,
        key: tuple[str, str],
        uid: str,
        node: str,
        rv: int,
        text: str,
        deleted: bool,
    ) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("UPDATE counters SET value=? WHERE name='resourceVersion'", (rv,))
            if deleted:
                c.execute(
                    "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?",
                    (resource, key[0], key[1]),
                )
            else:
                c.execute(
                    "INSERT OR REPLACE INTO objects "
                    "(resource, namespace, name, uid, node_name, resource_version, json) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (resource, key[0], key[1], uid, node, rv, text),
                )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _remember(self, resource: str, key: tuple[str, str], row: _Row) -> None:
        self._rows.setdefault(resource, {})[key] = row
        if row.node_name:
            self._by_node.setdefault(row.node_name, set()).add(key)

    def _forget(self, resource: str, key: tuple[str, str], row: _Row) -> None:
        self._rows.get(resource, {}).pop(key, None)
        if row.node_name:
            keys = self._by_node.get(row.node_name)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_node[row.node_name]

    # ---- watch ----

    def watch(
        self,
        resource: str,
        *,
        since: int,
        namespace: str | None = None,
        node_name: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        return self._cache.watch(resource, since=since, namespace=namespace, node_name=node_name)

    def end_watches(self) -> None:
        """End every open watch stream (shutdown: clients re-watch elsewhere or later)."""
        self._cache.close()

    async def close(self) -> None:
        self._cache.close()
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)
