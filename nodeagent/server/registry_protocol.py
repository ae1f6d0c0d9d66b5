"""The Registry seam: the API's semantics over the Store, shared by REST handlers and controllers.

It applies what the Kubernetes API server applies on every write: defaults, validation (422
with field causes), metadata (uid, generation bumped on spec changes only, creationTimestamp,
deletionTimestamp and finalizers, ownerReferences), graceful pod deletion, cascading deletes
(Background, Foreground, Orphan), status subresources, and patches (JSON merge, strategic
merge, apply). Controllers write through it exactly as kubectl does through REST.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Literal, Protocol

from nodeagent.api.bodies import Obj
from nodeagent.server.store.protocol import WatchEvent

Subresource = Literal["", "status"]
# Admission of one write (kube-apiserver's admission chain; REST passes NodeRestriction's):
# called with (stored object or None, object to write or None) once both are known, before
# defaults and validation; it raises the APIError that refuses the write.
Admit = Callable[[Obj | None, Obj | None], None]


class Registry(Protocol):
    async def get(self, resource: str, namespace: str, name: str) -> Obj: ...

    async def list(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], int]:
        """Matching objects and the list's resourceVersion. Selectors use the string forms
        (`a=b,c in (d,e),!f`; fields `metadata.name=x,spec.nodeName=n,status.phase!=Failed`)."""
        ...

    async def create(
        self, resource: str, obj: Obj, *, namespace: str | None = None, admit: Admit | None = None
    ) -> Obj: ...

    async def update(
        self,
        resource: str,
        obj: Obj,
        *,
        subresource: Subresource = "",
        admit: Admit | None = None,
    ) -> Obj:
        """PUT semantics: CAS on metadata.resourceVersion when set. With subresource "status"
        only .status changes; otherwise .status is kept as stored."""
        ...

    async def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        *,
        subresource: Subresource = "",
        field_manager: str = "",
        create_if_absent: bool = False,
        admit: Admit | None = None,
    ) -> tuple[Obj, bool]:
        """Apply a merge / strategic-merge / json / apply patch; returns (object, created)."""
        ...

    async def delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        resource_version: str | None = None,
        uid: str | None = None,
        admit: Admit | None = None,
    ) -> Obj:
        """Delete as the API server does: pods bound to a node get deletionTimestamp and stay
        until their agent confirms (grace 0 removes at once); Foreground keeps the owner until
        its dependents are gone; Orphan strips ownerReferences from dependents."""
        ...

    def watch(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        resource_version: int | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Events after resource_version (None: from now), filtered; Gone when too old.
        An object that stops matching a selector is sent as DELETED, as Kubernetes does."""
        ...
