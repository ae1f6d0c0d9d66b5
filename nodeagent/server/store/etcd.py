"""The etcd Store: API objects in etcd v3 under kube-apiserver's key layout, for several servers.

Keys are `/registry/<resource>/<namespace>/<name>` (cluster-scoped: `/registry/<resource>/
<name>`); a value is the object's JSON without its resourceVersion, which is the key's etcd
mod_revision (global and monotonic). Writes are single-key etcd transactions: a create needs
create_revision == 0, a CAS update or delete needs mod_revision == the given version, and one
without a version compares against the current one (retried inside). One etcd watch over
`/registry/` from the list's revision feeds an in-memory copy and the WatchCache, so every
server sees every server's writes in etcd's order; reads are served from that copy, and a write
returns once the watch has delivered it (this server then reads its own writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TypeVar

import structlog

from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import APIError, FieldError, ServiceUnavailable
from nodeagent.server.store.errors import already_exists, conflict, not_found
from nodeagent.server.store.etcdclient import (
    Compacted,
    EtcdClient,
    EtcdError,
    EtcdUnavailable,
    Event,
    KeyValue,
)
from nodeagent.server.store.objecttable import ObjectTable, Row, node_of
from nodeagent.server.store.protocol import EventType, WatchEvent
from nodeagent.server.store.watchcache import WatchCache

log = structlog.get_logger()

PREFIX = "/registry/"
COMPACT_KEY = "compact_rev_key"  # kube-apiserver's key for coordinating compaction
HEALTH_KEY = PREFIX + "health"  # read, never written: kube-apiserver's etcd check reads it too
PROBE_TIMEOUT = 2.0  # kube-apiserver's --etcd-readycheck-timeout
FRESH_WAIT = 3.0  # how long a watch waits for this server to reach its version
_RETRIES = 16  # an update without a version retries this often against concurrent writers
_T = TypeVar("_T")


def etcd_key(resource: str, namespace: str, name: str) -> str:
    return f"{PREFIX}{resource}/{namespace}/{name}" if namespace else f"{PREFIX}{resource}/{name}"


def parse_key(key: str) -> tuple[str, str, str] | None:
    """`/registry/pods/ns/name` -> ("pods", "ns", "name"); None for keys of another layout."""
    if not key.startswith(PREFIX):
        return None
    parts = key[len(PREFIX) :].split("/")
    if len(parts) == 2:
        return parts[0], "", parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None


def _encode(obj: Obj) -> bytes:
    """The stored value: the object without its resourceVersion (etcd's revision is it)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return json.dumps({**obj, "metadata": meta}, separators=(",", ":")).encode()


def _decode(value: bytes, revision: int) -> Obj:
    obj: Obj = json.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def _row(resource: str, value: bytes, revision: int) -> Row:
    obj = _decode(value, revision)
    return Row(
        resource_version=revision,
        node_name=node_of(resource, obj),
        text=jsontext.dumps(obj),  # the watch line splices it: compact, as a GET answers
    )


class TooLargeResourceVersion(APIError):
    """A watch from a version this server has not seen yet, after waiting (kube-apiserver's
    504 with the cause ResourceVersionTooLarge; client-go retries it)."""

    code, reason = 504, "Timeout"


class EtcdStore:
    """Store (store/protocol.py) over etcd; open with `await EtcdStore.open(endpoints)`."""

    def __init__(
        self,
        client: EtcdClient,
        *,
        watch_window: int,
        write_wait: float = 10.0,
        probe_period: float = 2.0,
        compaction_interval: float = 300.0,
    ) -> None:
        self._client = client
        self._window = watch_window
        self._write_wait = write_wait
        self._probe_period = probe_period
        self._compaction_interval = compaction_interval
        self._table = ObjectTable()
        self._rv = 0
        self._cache = WatchCache(capacity=watch_window, start=0)
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._watch_up = False
        self._connected = asyncio.Event()  # set while the watch is connected
        self._probe_ok = True
        self._probe_error = ""
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(
        cls,
        endpoints: Sequence[str],
        *,
        watch_window: int = 10_000,
        probe_period: float = 2.0,
        compaction_interval: float = 300.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> EtcdStore:
        """Connect, load every object and start following; EtcdUnavailable if no endpoint
        answers."""
        client = EtcdClient(endpoints, ssl_context=ssl_context)
        try:
            await client.status()
            store = cls(
                client,
                watch_window=watch_window,
                probe_period=probe_period,
                compaction_interval=compaction_interval,
            )
            await store._relist()
        except BaseException:
            await client.close()
            raise
        store._tasks = [
            asyncio.create_task(store._follow(), name="etcd-watch"),
            asyncio.create_task(store._probe(), name="etcd-probe"),
        ]
        if compaction_interval > 0:
            store._tasks.append(asyncio.create_task(store._compact(), name="etcd-compactor"))
        try:
            await asyncio.wait_for(store._connected.wait(), client.timeout)
        except TimeoutError:
            await store.close()
            raise EtcdUnavailable("the watch did not start") from None
        log.info("store_opened", etcd=list(endpoints), resource_version=store._rv)
        return store

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def healthy(self) -> bool:
        """etcd answers a quorum read and the watch is connected."""
        return self.problem is None

    @property
    def problem(self) -> str | None:
        """Why the store is not ready (what /readyz reports as "store"), or None."""
        if not self._probe_ok:
            return f"etcd did not answer a quorum read: {self._probe_error}"
        if not self._watch_up:
            return "the etcd watch is not connected"
        return None

    async def probe(self) -> None:
        """Nothing to do: the probe loop runs from open() to close()."""

    # ---- reads (from the copy the watch keeps) ----

    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        obj = self._table.get(resource, (namespace, name))
        if obj is None:
            raise not_found(resource, name)
        return obj

    async def list(
        self, resource: str, *, namespace: str | None = None, node_name: str | None = None
    ) -> tuple[list[Obj], int]:
        return self._table.items(resource, namespace=namespace, node_name=node_name), self._rv

    # ---- writes (etcd transactions) ----

    async def create(self, resource: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        namespace, name = str(meta.get("namespace") or ""), str(meta["name"])
        meta.setdefault("uid", str(uuid.uuid4()))
        key = etcd_key(resource, namespace, name)
        result = await self._call(self._client.put_if(key, _encode(obj), mod_revision=0))
        if not result.succeeded:
            raise already_exists(resource, name)
        meta["resourceVersion"] = str(result.revision)
        await self._caught_up(result.revision)
        return obj

    async def update(self, resource: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        namespace, name = str(meta.get("namespace") or ""), str(meta["name"])
        key = etcd_key(resource, namespace, name)
        wanted = meta.get("resourceVersion")
        value = _encode(obj)
        expected = await self._expected(resource, namespace, name, wanted)
        for _ in range(_RETRIES):
            result = await self._call(self._client.put_if(key, value, mod_revision=expected))
            if result.succeeded:
                meta["resourceVersion"] = str(result.revision)
                await self._caught_up(result.revision)
                return obj
            if not result.kvs:
                raise not_found(resource, name)
            if wanted not in (None, ""):
                raise conflict(resource, name)
            expected = result.kvs[0].mod_revision  # changed meanwhile: compare with that
        raise conflict(resource, name)

    async def delete(
        self, resource: str, namespace: str, name: str, *, resource_version: int | None = None
    ) -> Obj:
        key = etcd_key(resource, namespace, name)
        expected = await self._expected(resource, namespace, name, resource_version)
        for _ in range(_RETRIES):
            result = await self._call(self._client.delete_if(key, mod_revision=expected))
            if not result.kvs:
                raise not_found(resource, name)
            if result.succeeded:
                await self._caught_up(result.revision)
                return _decode(result.kvs[0].value, result.revision)
            if resource_version is not None:
                raise conflict(resource, name)
            expected = result.kvs[0].mod_revision
        raise conflict(resource, name)

    async def _expected(self, resource: str, namespace: str, name: str, wanted: object) -> int:
        """The mod_revision a write compares with: the caller's version, else the current."""
        if wanted not in (None, ""):
            try:
                return int(str(wanted))
            except ValueError:
                raise conflict(resource, name) from None
        row = self._table.row(resource, (namespace, name))
        if row is not None:
            return row.resource_version
        kv = await self._call(self._client.get(etcd_key(resource, namespace, name)))
        if kv is None:
            raise not_found(resource, name)
        return kv.mod_revision

    async def _call(self, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except EtcdUnavailable as exc:
            raise ServiceUnavailable(f"etcd: {exc}") from exc

    async def _caught_up(self, revision: int) -> None:
        """Wait until the watch has applied `revision` (bounded: the write is done anyway)."""
        if not await self._reached(revision, self._write_wait):
            log.warning("etcd_write_not_seen", revision=revision, seen=self._rv)

    async def _reached(self, revision: int, timeout: float) -> bool:
        """Whether the watch applies `revision` within `timeout` seconds."""
        if self._rv >= revision:
            return True
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (revision, id(done), done))
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            return False
        return True

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._rv:
            _, _, done = heapq.heappop(self._waiters)
            if not done.done():
                done.set_result(None)

    # ---- the etcd watch ----

    async def _relist(self) -> None:
        """Load every object at one revision and start a new window from it (the old one's
        watchers end; they resume from their last version and get Gone, then relist)."""
        kvs, revision = await self._client.range_prefix(PREFIX)
        self._table = ObjectTable()
        for kv in kvs:
            parsed = parse_key(kv.key)
            if parsed is not None and (row := _checked_row(parsed[0], kv)) is not None:
                resource, namespace, name = parsed
                self._table.put(resource, (namespace, name), row)
        old, self._cache = self._cache, WatchCache(capacity=self._window, start=revision)
        old.close()
        self._rv = max(self._rv, revision)
        self._wake()

    async def _follow(self) -> None:
        """Apply etcd's changes in order; reconnect with backoff from the last revision seen."""
        delay, relist = 0.1, False
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                async for batch in self._client.watch(PREFIX, start_revision=self._rv + 1):
                    if not self._watch_up:
                        log.info("etcd_watch_connected", resource_version=self._rv)
                    self._watch_up, delay = True, 0.1
                    self._connected.set()
                    self._apply(batch)
            except Compacted as exc:
                log.warning("etcd_watch_compacted", resource_version=self._rv, error=str(exc))
                relist = True
            except Exception as exc:  # etcd gone, or a bug: never leave the copy unfed
                self._watch_up = False
                self._connected.clear()
                if isinstance(exc, EtcdUnavailable | EtcdError):
                    log.warning("etcd_watch_broken", error=str(exc), retry_seconds=delay)
                else:
                    log.exception("etcd_watch_failed", retry_seconds=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _apply(self, batch: Sequence[Event]) -> None:
        for ev in batch:
            parsed = parse_key(ev.kv.key)
            revision = ev.kv.mod_revision
            if parsed is not None:
                self._apply_one(ev, parsed, revision)
            self._rv = max(self._rv, revision)
        self._wake()

    def _apply_one(self, ev: Event, parsed: tuple[str, str, str], revision: int) -> None:
        resource, namespace, name = parsed
        key = (namespace, name)
        if ev.type == "DELETE":
            prev = _prev_row(resource, ev.prev, self._table.remove(resource, key))
            if prev is None:
                return  # deleted before we knew it (a relist raced it): nothing to tell
            gone = _restamped(prev, revision)  # as last stored, with the delete's version
            self._publish(resource, namespace, "DELETED", gone, prev)
            return
        new = _checked_row(resource, ev.kv)
        if new is None:
            return
        prev = _prev_row(resource, ev.prev, self._table.put(resource, key, new))
        self._publish(resource, namespace, "MODIFIED" if prev else "ADDED", new, prev)

    def _publish(
        self, resource: str, namespace: str, type: EventType, row: Row, prev: Row | None
    ) -> None:
        self._cache.publish(
            resource=resource,
            namespace=namespace,
            type=type,
            resource_version=row.resource_version,
            text=row.text,
            prev_text=prev.text if prev is not None else None,
            node=row.node_name,
            prev_node=prev.node_name if prev is not None else "",
        )

    # ---- health and compaction ----

    async def _probe(self) -> None:
        while True:
            try:
                # a lone member still answers the status call: only a linearizable read
                # proves a leader and a quorum
                await self._client.quorum_read(HEALTH_KEY, timeout=PROBE_TIMEOUT)
                ok = True
            except (EtcdUnavailable, EtcdError) as exc:
                ok = False
                self._probe_error = str(exc)
                if self._probe_ok:
                    log.warning("etcd_unreachable", error=str(exc))
            if ok and not self._probe_ok:
                log.info("etcd_reachable")
            self._probe_ok = ok
            await asyncio.sleep(self._probe_period)

    async def _compact(self) -> None:
        """kube-apiserver's compactor: every interval, the first server to bump COMPACT_KEY's
        version compacts to the revision seen one interval before (older events go)."""
        seen_version, last_revision = 0, 0
        while True:
            await asyncio.sleep(self._compaction_interval)
            try:
                result = await self._client.compare_version_and_put(
                    COMPACT_KEY, version=seen_version, value=str(last_revision).encode()
                )
                if not result.succeeded:  # another server compacted: follow its count
                    seen_version = result.kvs[0].version if result.kvs else 0
                else:
                    seen_version += 1
                    if last_revision:
                        await self._client.compact(last_revision)
                        log.info("etcd_compacted", revision=last_revision)
                last_revision = result.revision
            except (EtcdUnavailable, EtcdError) as exc:
                log.warning("etcd_compaction_failed", error=str(exc))

    # ---- watch, close ----

    def watch(
        self,
        resource: str,
        *,
        since: int,
        namespace: str | None = None,
        node_name: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        return self._watch(resource, since=since, namespace=namespace, node_name=node_name)

    async def _watch(
        self, resource: str, *, since: int, namespace: str | None, node_name: str | None
    ) -> AsyncIterator[WatchEvent]:
        """A version from another server may be ahead of this one's watch: wait (3 s, as
        kube-apiserver's watch cache) until this server has it, so no older event is sent."""
        await self._fresh(since)
        async for ev in self._cache.watch(
            resource, since=since, namespace=namespace, node_name=node_name
        ):
            yield ev

    async def _fresh(self, revision: int) -> None:
        if not await self._reached(revision, FRESH_WAIT):
            raise TooLargeResourceVersion(
                f"Too large resource version: {revision}, current: {self._rv}",
                causes=[
                    FieldError(
                        field="",
                        type="Too large resource version",
                        reason="ResourceVersionTooLarge",
                    )
                ],
            )

    def end_watches(self) -> None:
        """End every open watch stream (shutdown: clients re-watch elsewhere or later)."""
        self._cache.close()

    async def close(self) -> None:
        self._cache.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.close()


def _prev_row(resource: str, prev: KeyValue | None, known: Row | None) -> Row | None:
    """The object before a change: etcd's prev_kv, else the copy we held."""
    if prev is not None and prev.value:
        return _checked_row(resource, prev) or known
    return known


def _restamped(row: Row, revision: int) -> Row:
    obj = json.loads(row.text)
    obj["metadata"]["resourceVersion"] = str(revision)
    return Row(
        resource_version=revision,
        node_name=row.node_name,
        text=jsontext.dumps(obj),
    )


def _checked_row(resource: str, kv: KeyValue) -> Row | None:
    """The row of a stored value; None (logged) for a value that is not an object's JSON,
    e.g. one kube-apiserver wrote in protobuf under the same prefix."""
    try:
        return _row(resource, kv.value, kv.mod_revision)
    except (ValueError, TypeError, AttributeError):
        log.warning("etcd_value_skipped", key=kv.key, revision=kv.mod_revision)
        return None
