"""The Store seam: versioned storage of API objects with watches.

One global, monotonically increasing resourceVersion (an int, sent as a string on the wire).
Every write is a compare-and-swap: update/delete with metadata.resourceVersion set fail with
Conflict when it is stale. The store knows nothing of kinds' semantics (defaults, validation,
generation, graceful deletion): the Registry (server/registry.py) does that on top.
Implementations: sqlite.py (the embedded default) and etcd.py (several servers on one etcd).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final, Literal, Protocol, cast

from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.server.store.sharedchange import SharedChange

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


_UNKNOWN: Final[Any] = object()  # a decoded field not decoded yet


class WatchEvent:
    """One change as a watcher receives it. From the watch window, its object is decoded from
    the stored text only when asked for (each watcher gets its own copy, free to keep and
    change), and `line()` is the stream's encoded line, shared with every other watcher of the
    same change (store/sharedchange.py)."""

    __slots__ = ("_object", "_prev_object", "resource", "resource_version", "shared", "type")

    def __init__(
        self,
        *,
        type: EventType,
        resource: str,  # "pods", "daemonsets", ... (nodeagent.api.resources names)
        resource_version: int,
        object: Obj | None = None,
        prev_object: Obj | None = None,
        shared: SharedChange | None = None,
    ) -> None:
        if object is None and shared is None:
            raise TypeError("a WatchEvent needs its object or its stored text")
        self.type = type
        self.resource = resource
        self.resource_version = resource_version
        self.shared = shared
        self._object = _UNKNOWN if object is None else object
        self._prev_object = _UNKNOWN if object is None and prev_object is None else prev_object

    @property
    def object(self) -> Obj:
        """The object after the change (for DELETED: as it was, with the delete's rv)."""
        if self._object is _UNKNOWN:
            assert self.shared is not None
            self._object = jsontext.loads(self.shared.text)
        return cast(Obj, self._object)

    @property
    def prev_object(self) -> Obj | None:
        """MODIFIED/DELETED: the object as it was before this change (None when not known).
        Lets a filtered watch turn "stopped matching" into DELETED, as Kubernetes does."""
        if self._prev_object is _UNKNOWN:
            assert self.shared is not None
            prev = self.shared.prev_text
            self._prev_object = jsontext.loads(prev) if prev is not None else None
        return cast("Obj | None", self._prev_object)

    def retyped(self, type: EventType) -> WatchEvent:
        """The same change as another event type (a selector's ADDED or DELETED)."""
        ev = WatchEvent(
            type=type,
            resource=self.resource,
            resource_version=self.resource_version,
            object=None if self._object is _UNKNOWN else self._object,
            shared=self.shared,
        )
        ev._prev_object = self._prev_object
        return ev

    def line(self) -> bytes:
        """The watch stream's line for this event, `{"type":..,"object":..}` and a newline:
        encoded once per change and type when the event came from the watch window."""
        if self.shared is not None:
            return self.shared.line(self.type)
        return jsontext.dumpb({"type": self.type, "object": self.object}) + b"\n"

    def __repr__(self) -> str:
        return f"WatchEvent({self.type} {self.resource} rv={self.resource_version})"


class Store(Protocol):
    """Objects keyed by (resource, namespace, name); namespace is "" for cluster-scoped ones.

    Errors are nodeagent.api.errors: NotFound, AlreadyExists, Conflict, Gone.
    """

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion written (0 for an empty store)."""
        ...

    async def get(self, resource: str, namespace: str, name: str) -> Obj: ...

    async def list(
        self, resource: str, *, namespace: str | None = None, node_name: str | None = None
    ) -> tuple[list[Obj], int]:
        """All objects of a resource (optionally one namespace; for pods, optionally only those
        with spec.nodeName == node_name, served from an index) and the list's resourceVersion."""
        ...

    async def create(self, resource: str, obj: Obj) -> Obj:
        """Store a new object: sets metadata.uid (if absent), creationTimestamp,
        resourceVersion. AlreadyExists if the key is taken."""
        ...

    async def update(self, resource: str, obj: Obj) -> Obj:
        """Replace an object; CAS on metadata.resourceVersion when it is set (else
        unconditional). Returns the stored object with its new resourceVersion."""
        ...

    async def delete(
        self, resource: str, namespace: str, name: str, *, resource_version: int | None = None
    ) -> Obj:
        """Remove an object (CAS when resource_version is given); returns it as last stored."""
        ...

    def watch(
        self,
        resource: str,
        *,
        since: int,
        namespace: str | None = None,
        node_name: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Events after resourceVersion `since`, then live ones, until the caller stops.
        Raises Gone (at first iteration) when `since` is older than the kept window.
        `node_name` (pods): only changes of pods bound to that node before or after the
        change, filtered before decoding (a fleet's agents each watch their own)."""
        ...

    async def close(self) -> None: ...
