"""The SQLite Store: every object in one table, one global resourceVersion, CAS on every write.

Durability: WAL with synchronous=NORMAL. A commit is in the WAL file (the OS page cache) before
the write is acknowledged, so killing the process loses nothing acknowledged; only a power loss
can lose the last commits (the file stays consistent). docs/server.md says why. The file and
its -wal/-shm are 0600 (docs/security.md).
Reads are served from an in-memory copy loaded at open (the JSON text of each object). Writes
are queued and group-committed: the writes waiting while a commit runs are checked one by one
(CAS, in order) and persisted together in one transaction by one writer thread, then applied
to memory and published to watchers in resourceVersion order.
A commit SQLite refuses (a full disk, an I/O error) answers its writers with an APIError naming
the cause (507 for "database or disk is full") and makes `problem` say why until a commit, or
`probe()`'s empty one once a MiB is free again, succeeds: /readyz reports it. One log line per
outage, not one per write.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import structlog

from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import APIError, InsufficientStorage
from nodeagent.privatefiles import PRIVATE_FILE, tighten_file
from nodeagent.server.store.errors import already_exists, conflict, not_found
from nodeagent.server.store.protocol import EventType, WatchEvent
from nodeagent.server.store.watchcache import WatchCache

log = structlog.get_logger()
WAL_SUFFIXES = ("-wal", "-shm")  # the files SQLite keeps beside the store in WAL mode

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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Planned:
    """One write that passed its check: what to store and what it replaces."""

    resource: str
    key: tuple[str, str]
    obj: Obj
    type: EventType
    old: _Row | None


_Check = Callable[[_Row | None], _Planned]
# resource, (namespace, name), uid, node name, resourceVersion, JSON text, deleted
_PersistRow = tuple[str, tuple[str, str], str, str, int, str, bool]

# free bytes the store's filesystem needs before a failed store tries to commit again
PROBE_FREE_BYTES = 1024 * 1024
# writes in one transaction at most (the rest wait for the next one)
_MAX_BATCH = 512
# a list decodes this many objects per turn of the event loop: a controller listing 10,000
# nodes no longer holds every other request for the whole decode (~100-300 ms here)
LIST_CHUNK = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class _Waiting:
    """One queued write: its check (run at commit time on the latest row) and its outcome."""

    resource: str
    key: tuple[str, str]
    check: _Check
    done: asyncio.Future[Obj]


_Batch = list[_Waiting]
_PersistRows = list[_PersistRow]


def _answer(done: asyncio.Future[Obj], outcome: Obj | BaseException) -> None:
    """Give a write its outcome, unless its writer stopped waiting (cancelled)."""
    if done.done():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


def _free_bytes(directory: Path) -> int:
    try:
        fs = os.statvfs(directory)
    except OSError:
        return 0
    return fs.f_bavail * fs.f_frsize


def commit_error(exc: sqlite3.Error) -> APIError:
    """The answer to the writers of a commit SQLite refused: the cause in SQLite's words, a
    507 when it is a full disk (nothing to retry until space returns), else a 500."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return InsufficientStorage(f"the store could not commit: {exc}")
    return APIError(f"the store could not commit: {exc}")


def _node_name(resource: str, obj: Obj) -> str:
    if resource != "pods":
        return ""
    return str((obj.get("spec") or {}).get("nodeName") or "")


class SqliteStore:
    """Store (store/protocol.py) over one SQLite file; open with `await SqliteStore.open(...)`."""

    def __init__(
        self, conn: sqlite3.Connection, *, watch_window: int, directory: Path | None = None
    ) -> None:
        self._conn = conn
        self._directory = directory  # where the file is: its filesystem's free space
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._pending: _Batch = []
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self._problem: str | None = None  # why the last commit failed, until one succeeds
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
            # SQLite makes -wal and -shm with the main file's mode: a 0600 main file keeps all
            # three private. A store from an older version is tightened (a warning says so).
            for existing in (path, *(path.with_name(path.name + x) for x in WAL_SUFFIXES)):
                tighten_file(existing)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE))
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            return conn

        conn = await asyncio.to_thread(connect)
        store = cls(conn, watch_window=watch_window, directory=path.parent)
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
        obj: Obj = jsontext.loads(row.text)
        return obj

    async def list(
        self, resource: str, *, namespace: str | None = None, node_name: str | None = None
    ) -> tuple[list[Obj], int]:
        rows = self._rows.get(resource, {})
        if node_name is not None and resource == "pods":
            keys = sorted(self._by_node.get(node_name, set()))
        else:
            keys = sorted(rows)
        texts = [
            rows[k].text for k in keys if k in rows and (namespace is None or k[0] == namespace)
        ]
        rv = self._rv  # the snapshot: rows are immutable, so decoding later changes nothing
        items: list[Obj] = []
        for start in range(0, len(texts), LIST_CHUNK):
            if start:
                await asyncio.sleep(0)  # let other requests run between chunks
            items += [jsontext.loads(t) for t in texts[start : start + LIST_CHUNK]]
        return items, rv

    # ---- writes (CAS, group commit) ----

    async def create(self, resource: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        key = (str(meta.get("namespace") or ""), str(meta["name"]))

        def check(row: _Row | None) -> _Planned:
            if row is not None:
                raise already_exists(resource, key[1])
            meta.setdefault("uid", str(uuid.uuid4()))
            return _Planned(resource=resource, key=key, obj=obj, type="ADDED", old=None)

        return await self._queue(resource, key, check)

    async def update(self, resource: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        key = (str(meta.get("namespace") or ""), str(meta["name"]))

        def check(row: _Row | None) -> _Planned:
            if row is None:
                raise not_found(resource, key[1])
            wanted = meta.get("resourceVersion")
            if wanted not in (None, "") and str(wanted) != str(row.resource_version):
                raise conflict(resource, key[1])
            return _Planned(resource=resource, key=key, obj=obj, type="MODIFIED", old=row)

        return await self._queue(resource, key, check)

    async def delete(
        self, resource: str, namespace: str, name: str, *, resource_version: int | None = None
    ) -> Obj:
        key = (namespace, name)

        def check(row: _Row | None) -> _Planned:
            if row is None:
                raise not_found(resource, name)
            if resource_version is not None and resource_version != row.resource_version:
                raise conflict(resource, name)
            obj: Obj = jsontext.loads(row.text)
            return _Planned(resource=resource, key=key, obj=obj, type="DELETED", old=row)

        return await self._queue(resource, key, check)

    async def _queue(self, resource: str, key: tuple[str, str], check: _Check) -> Obj:
        """Queue one check-and-write for the next group commit and wait for its outcome.
        A caller cancelled mid-write cancels only its wait: the write is still committed and
        applied to memory (the file and the memory copy never part), and its outcome is
        dropped. Awaited directly, not through asyncio.shield: the shield's relay costs the
        writer one more turn of a busy event loop."""
        if self._closing:
            raise RuntimeError("store closed")
        done: asyncio.Future[Obj] = asyncio.get_running_loop().create_future()
        self._pending.append(_Waiting(resource=resource, key=key, check=check, done=done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        return await done

    async def _flush_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
            try:
                await self._flush(batch)
            except Exception as exc:  # a bug, not an answer: no writer waits forever on it
                log.exception("store_flush_failed", writes=len(batch))
                for w in batch:
                    _answer(w.done, exc)

    async def _flush(self, batch: _Batch) -> None:
        """Check each queued write in order against the committed rows plus the earlier
        writes of this batch, persist the ones that pass in one transaction, then apply them
        to memory and publish them in resourceVersion order."""
        overlay: dict[tuple[str, str, str], _Row | None] = {}
        planned: list[tuple[_Waiting, _Planned, _Row]] = []
        rv = self._rv
        for w in batch:
            slot = (w.resource, *w.key)
            row = overlay[slot] if slot in overlay else self._rows.get(w.resource, {}).get(w.key)
            try:
                plan = w.check(row)
            except Exception as exc:  # a per-write answer (409, 404): only this writer's
                _answer(w.done, exc)
                continue
            rv += 1
            plan.obj["metadata"]["resourceVersion"] = str(rv)
            text = jsontext.dumps(plan.obj)
            new = _Row(resource_version=rv, node_name=_node_name(w.resource, plan.obj), text=text)
            overlay[slot] = None if plan.type == "DELETED" else new
            planned.append((w, plan, new))
        if not planned:
            return
        rows = [
            (
                p.resource,
                p.key,
                str(p.obj["metadata"].get("uid", "")),
                new.node_name,
                new.resource_version,
                new.text,
                p.type == "DELETED",
            )
            for _w, p, new in planned
        ]
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._persist, rows, rv)
        except sqlite3.Error as exc:
            error = commit_error(exc)
            self._failed(error.message, writes=len(planned))
            for w, _p, _new in planned:
                _answer(w.done, error)
            return
        self._committed()
        for w, p, new in planned:
            self._rv = new.resource_version
            if p.old is not None:
                self._forget(p.resource, p.key, p.old)
            if p.type != "DELETED":
                self._remember(p.resource, p.key, new)
            self._cache.publish(
                resource=p.resource,
                namespace=p.key[0],
                type=p.type,
                resource_version=new.resource_version,
                text=new.text,
                prev_text=p.old.text if p.old is not None else None,
                node=new.node_name,
                prev_node=p.old.node_name if p.old is not None else "",
            )
            _answer(w.done, p.obj)

    def _persist(self, rows: _PersistRows, rv: int) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("UPDATE counters SET value=? WHERE name='resourceVersion'", (rv,))
            for resource, key, uid, node, row_rv, text, deleted in rows:
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
                        (resource, key[0], key[1], uid, node, row_rv, text),
                    )
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:  # SQLite rolls back itself after SQLITE_FULL at COMMIT
                c.execute("ROLLBACK")
            raise

    # ---- health ----

    @property
    def problem(self) -> str | None:
        """Why the store cannot commit (the last commit's error), or None."""
        return self._problem

    async def probe(self) -> None:
        """After a failed commit: an empty write transaction, to see whether commits work
        again (space returned) when no one writes. Runs on the writer thread, between
        batches."""
        if self._problem is None or self._closing:
            return
        if self._directory is not None and _free_bytes(self._directory) < PROBE_FREE_BYTES:
            return  # still full: an empty commit could fit in the WAL and say otherwise
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._touch)
        except sqlite3.Error as exc:
            self._failed(commit_error(exc).message, writes=0)
            return
        self._committed()

    def _touch(self) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("UPDATE counters SET value=value WHERE name='resourceVersion'")
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def _failed(self, problem: str, *, writes: int) -> None:
        if self._problem is None:  # once per outage: a full disk must not fill with logs
            log.error("store_commit_failed", writes=writes, error=problem)
        else:
            log.debug("store_commit_failed", writes=writes, error=problem)
        self._problem = problem

    def _committed(self) -> None:
        if self._problem is not None:
            log.info("store_commit_recovered", after=self._problem)
            self._problem = None

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
        self._closing = True
        if self._flusher is not None:
            await self._flusher  # the queued writes are committed (or answered) first
        await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)
