"""`?watch=true`: a chunked stream of newline-delimited watch events.

From a resourceVersion: the events after it. Without one (or "0"): ADDED for every current
object first, as the API server does. `sendInitialEvents=true` (watch-list): the ADDED
events, then a BOOKMARK annotated `k8s.io/initial-events-end: "true"`. A version older than
the window ends the stream with an ERROR event carrying a 410 Expired Status. With
`as=Table` each object travels as a one-row Table. `timeoutSeconds` ends the stream;
`allowWatchBookmarks` adds a BOOKMARK per idle minute. A change's line is encoded once for
all the watchers it goes to (store/sharedchange.py); Table rows, bookmarks and errors are
each watcher's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import APIError
from nodeagent.server.rest import keys
from nodeagent.server.rest.request import (
    Call,
    flag,
    include_object,
    int_param,
    resource_version,
    wants_table,
)
from nodeagent.server.rest.tables import render_table
from nodeagent.server.store.protocol import WatchEvent

DEFAULT_TIMEOUT_SECONDS = 1800.0
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
BOOKMARK_SECONDS = 60.0  # with allowWatchBookmarks: an idle stream gets a BOOKMARK this often


class _Stream:
    def __init__(
        self, response: web.StreamResponse, call: Call, *, table: bool, include_object: str
    ) -> None:
        self.response = response
        self.resource = call.target.resource
        self.table = table
        self.include_object = include_object
        self.first = True
        self.sent = 0  # lines written: the bookmark ticker's "was the stream idle"
        self.last_rv = 0  # the version of the last event sent
        self._lock = asyncio.Lock()  # the follower and the bookmark ticker both write

    async def send_event(self, ev: WatchEvent) -> None:
        """A stored change: its line as encoded once for all its watchers (store/
        sharedchange.py), or this watcher's own Table row."""
        if self.table:
            await self.send(ev.type, ev.object)
            return
        await self._write(ev.line())

    async def send(self, type_: str, obj: Obj) -> None:
        if self.table and type_ in ("ADDED", "MODIFIED", "DELETED"):
            obj = render_table(
                self.resource.name,
                [obj],
                resource_version=str((obj.get("metadata") or {}).get("resourceVersion", "")),
                now=time.time(),
                include_column_definitions=self.first,
                include_object=self.include_object,
            )
            self.first = False
        await self._write(jsontext.dumpb({"type": type_, "object": obj}) + b"\n")

    async def _write(self, line: bytes) -> None:
        async with self._lock:
            await self.response.write(line)
        self.sent += 1

    async def bookmark(self, rv: int, *, initial_end: bool) -> None:
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        await self.send(
            "BOOKMARK",
            {"kind": self.resource.kind, "apiVersion": self.resource.api_version, "metadata": meta},
        )


async def _follow(
    events: AsyncIterator[WatchEvent],
    stream: _Stream,
    *,
    bookmark_every: float | None,
    last_rv: int,
) -> None:
    """Send events as they come; the events already waiting go out in one loop turn, without
    a task per event (that made an all-pods watch lag ~20 s behind a 1,000-node rollout on a
    busy loop). With bookmarks on, a ticker sends a BOOKMARK carrying the last version sent
    after each interval in which nothing was sent; a write failing there ends the stream."""
    stream.last_rv = last_rv
    ticker = None
    if bookmark_every is not None:
        ticker = asyncio.create_task(_bookmarks(stream, bookmark_every, asyncio.current_task()))
    try:
        async for ev in events:
            await stream.send_event(ev)
            stream.last_rv = ev.resource_version
    except asyncio.CancelledError:
        done = ticker is not None and ticker.done() and not ticker.cancelled()
        failed = ticker.exception() if ticker is not None and done else None
        task = asyncio.current_task()
        if failed is None or task is None or task.uncancel() > 0:
            raise
        raise failed from None
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ticker


async def _bookmarks(stream: _Stream, every: float, follower: asyncio.Task[Any] | None) -> None:
    """BOOKMARK after each idle interval; on a failed write, cancel the follower (it raises)."""
    try:
        while True:
            before = stream.sent
            await asyncio.sleep(every)
            if stream.sent == before:
                await stream.bookmark(stream.last_rv, initial_end=False)
    except asyncio.CancelledError:
        raise
    except Exception:
        if follower is not None:
            follower.cancel()
        raise


async def serve_watch(request: web.Request, call: Call) -> web.StreamResponse:
    registry = request.app[keys.REGISTRY]
    metrics = request.app[keys.METRICS]
    r = call.target.resource
    namespace = call.namespace or None
    labels = request.query.get("labelSelector")
    fields = request.query.get("fieldSelector")
    if call.name:  # a watch on one object (old-style /watch paths are not served)
        fields = f"metadata.name={call.name}" + (f",{fields}" if fields else "")
    rv_param = resource_version(request)
    send_initial = request.query.get("sendInitialEvents")
    timeout = int_param(request, "timeoutSeconds")
    initial = flag(request, "sendInitialEvents") or (rv_param in ("", "0") and send_initial is None)
    since = int(rv_param) if not initial and rv_param not in ("", "0") else None
    # Validate selectors (400) before the 200 goes out.
    items: list[Obj] = []
    if initial:
        items, since = await registry.list(
            r.name, namespace=namespace, label_selector=labels, field_selector=fields
        )
    elif since is None:
        since = registry.store.resource_version
    events = registry.watch(
        r.name,
        namespace=namespace,
        resource_version=since,
        label_selector=labels,
        field_selector=fields,
    )
    wanted_object = include_object(request)  # a bad value is 400 before the stream starts
    bookmarks = flag(request, "allowWatchBookmarks")  # so is a bad boolean
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    stream = _Stream(response, call, table=wants_table(request), include_object=wanted_object)
    metrics.watches.labels(r.name).inc()
    try:
        async with asyncio.timeout(float(timeout) if timeout else DEFAULT_TIMEOUT_SECONDS):
            for obj in items:
                await stream.send("ADDED", obj)
            if flag(request, "sendInitialEvents"):
                await stream.bookmark(since, initial_end=True)
            every = BOOKMARK_SECONDS if bookmarks else None
            try:
                await _follow(events, stream, bookmark_every=every, last_rv=since)
            except APIError as exc:  # Gone, mostly: the client relists
                await stream.send("ERROR", exc.status_body())
    except TimeoutError:
        pass
    except (ConnectionResetError, asyncio.CancelledError):
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
        raise
    finally:
        metrics.watches.labels(r.name).dec()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
