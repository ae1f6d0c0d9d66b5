"""The watch window: a bounded, in-memory log of recent changes, fanned out to watchers.

Fed by a store on each commit (in commit order); a change is offered only to the watchers of
its resource (and a pod's only to its node's watchers and the unfiltered ones), all of them
sharing its encoded event line (store/sharedchange.py); nothing is decoded to offer it. A watch from
`since` first replays the kept events after it, then follows live ones; a `since` older than
the window is Gone (410 Expired), as with the Kubernetes watch cache. A watcher that falls too
far behind is ended (its client re-watches from the last version it saw). Shared by every
Store implementation.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from nodeagent.api.errors import Gone
from nodeagent.server.store.protocol import EventType, WatchEvent
from nodeagent.server.store.sharedchange import SharedChange


@dataclass(frozen=True, slots=True, kw_only=True)
class _Change:
    resource: str
    namespace: str
    type: EventType
    resource_version: int
    text: str
    prev_text: str | None
    node: str = ""  # pods: spec.nodeName after the change ("" for none)
    prev_node: str = ""  # and before it
    nodes: frozenset[str] = frozenset()  # both, without ""

    def shared(self) -> SharedChange:
        """What its watchers share: the texts, and each event line once encoded. Made per
        publish (or per replay), never kept in the window: it lives while a watcher has it
        pending."""
        return SharedChange(self.text, self.prev_text, node=self.node, prev_node=self.prev_node)

    def event(self, shared: SharedChange) -> WatchEvent:
        """The watcher's event; its object is decoded only if the watcher asks for it."""
        return WatchEvent(
            type=self.type,
            resource=self.resource,
            resource_version=self.resource_version,
            shared=shared,
        )


@dataclass(slots=True, kw_only=True, eq=False)
class _Watcher:
    resource: str
    namespace: str | None
    node_name: str | None
    limit: int
    pending: collections.deque[tuple[_Change, SharedChange]] = field(
        default_factory=collections.deque
    )
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False

    def offer(self, change: _Change, shared: SharedChange) -> None:
        if change.resource != self.resource:
            return
        if self.namespace is not None and change.namespace != self.namespace:
            return
        if self.node_name is not None and self.node_name not in change.nodes:
            return
        if len(self.pending) >= self.limit:
            self.ended = True  # too slow: end the stream; the client resumes from its last rv
        else:
            self.pending.append((change, shared))
        self.wakeup.set()


class WatchCache:
    """Keeps the last `capacity` changes; every change with rv > `floor` is in the window."""

    def __init__(self, *, capacity: int, start: int) -> None:
        self._capacity = max(1, capacity)
        self._window: collections.deque[_Change] = collections.deque()
        self._floor = start
        self._watchers: set[_Watcher] = set()
        # watchers by (resource, node name or None): a change is offered only to the watchers
        # of its resource, and a pod's only to its nodes' watchers plus the unfiltered ones
        self._index: dict[tuple[str, str | None], set[_Watcher]] = {}
        self._closed = False

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def publish(
        self,
        *,
        resource: str,
        namespace: str,
        type: EventType,
        resource_version: int,
        text: str,
        prev_text: str | None,
        node: str = "",
        prev_node: str = "",
    ) -> None:
        """`node`, `prev_node`: a pod's spec.nodeName after and before the change."""
        change = _Change(
            resource=resource,
            namespace=namespace,
            type=type,
            resource_version=resource_version,
            text=text,
            prev_text=prev_text,
            node=node,
            prev_node=prev_node,
            nodes=frozenset(n for n in (node, prev_node) if n),
        )
        self._window.append(change)
        while len(self._window) > self._capacity:
            self._floor = self._window.popleft().resource_version
        shared = change.shared()  # one per change, for all its watchers
        for w in self._interested(change):
            w.offer(change, shared)

    def _interested(self, change: _Change) -> list[_Watcher]:
        found = list(self._index.get((change.resource, None), ()))
        for node in change.nodes:
            found.extend(self._index.get((change.resource, node), ()))
        return found

    def _after(self, since: int) -> list[_Change]:
        """The kept changes after `since`, oldest first, found from the newest end: a watch
        from the current version (the usual case: list, then watch) costs nothing however
        full the window is (10,000 agents starting their watches scanned it 10,000 times)."""
        found: list[_Change] = []
        for change in reversed(self._window):
            if change.resource_version <= since:
                break
            found.append(change)
        found.reverse()
        return found

    def check(self, since: int) -> None:
        """Gone when events after `since` are no longer all kept."""
        if since < self._floor:
            raise Gone(f"too old resource version: {since} ({self._floor + 1})")

    async def watch(
        self,
        resource: str,
        *,
        since: int,
        namespace: str | None = None,
        node_name: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        self.check(since)
        watcher = _Watcher(
            resource=resource, namespace=namespace, node_name=node_name, limit=self._capacity
        )
        for change in self._after(since):
            watcher.offer(change, change.shared())
        slot = (resource, node_name)
        self._watchers.add(watcher)
        self._index.setdefault(slot, set()).add(watcher)
        try:
            while not self._closed:
                while watcher.pending:
                    change, shared = watcher.pending.popleft()
                    yield change.event(shared)
                if watcher.ended:
                    return
                watcher.wakeup.clear()
                await watcher.wakeup.wait()
        finally:
            self._watchers.discard(watcher)
            same = self._index.get(slot)
            if same is not None:
                same.discard(watcher)
                if not same:
                    del self._index[slot]

    def close(self) -> None:
        self._closed = True
        for w in self._watchers:
            w.wakeup.set()
