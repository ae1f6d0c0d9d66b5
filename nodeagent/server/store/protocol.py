"""The Store seam: versioned storage of API objects with watches.

One global, monotonically increasing resourceVersion (an int, sent as a string on the wire).
Every write is a compare-and-swap: update/delete with metadata.resourceVersion set fail with
Conflict when it is stale. The store knows nothing of kinds' semantics (defaults, validation,
generation, graceful deletion): the Registry (server/registry.py) does that on top.
Implementations: sqlite.py (the embedded default) and etcd.py (several servers on one etcd).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from nodeagent.api.bodies import Obj

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchEvent:
    type: EventType
    resource: str  # "pods", "daemonsets", ... (nodeagent.api.resources names)
    object: Obj  # the object after the change (for DELETED: as it was, with the delete's rv)
    resource_version: int
    # MODIFIED/DELETED: the object as it was before this change (None when not known). Lets
    # a filtered watch turn "stopped matching" into DELETED, as Kubernetes does.
    prev_object: Obj | None = None


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
