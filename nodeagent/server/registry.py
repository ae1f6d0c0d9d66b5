"""The Registry over a Store: the Kubernetes API server's rules on every read and write.

Owns: defaults and validation before anything is stored, object metadata (uid, generateName,
creationTimestamp, generation), status subresources, patches, namespaces, preconditions and
CAS, graceful pod deletion, finalizers and the deletion side of cascading deletes (the
dependents themselves are collected by server/cascade.py), filtered watches. It does not own
HTTP (rest/) or who may call it (auth.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import structlog

from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
)
from nodeagent.api.meta import name_of
from nodeagent.api.patch import APPLY_PATCH, apply_patch
from nodeagent.api.resources import BY_NAME, Resource
from nodeagent.server import apicore, saadmission, tokenvolume
from nodeagent.server.credentials import revoke_node_credentials
from nodeagent.server.objectrules import (
    CREATE_STATUS,
    DAEMONSET_STATUS_ZERO,
    FOREGROUND_FINALIZER,
    INITIAL_NAMESPACES,
    NAMESPACE_FINALIZER,
    ORPHAN_FINALIZER,
    PROPAGATION_POLICIES,
    PROTECTED_NAMESPACES,
    SERVER_OWNED_META,
    add_default_tolerations,
    finished,
    invalid,
    meta_of,
    owner_uids,
    pod_grace,
    resource_of,
    rv_of,
    same_but_version,
)
from nodeagent.server.registry_protocol import Admit, Subresource
from nodeagent.server.store.errors import conflict, not_found
from nodeagent.server.store.protocol import Store, WatchEvent

log = structlog.get_logger()


class _KeyLocks:
    """One asyncio.Lock per key while anyone holds or waits for it; dropped when idle."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str, str], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: tuple[str, str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class StoreRegistry:
    """Registry (registry_protocol.py) over any Store."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        # set whenever an owner may have gone or started terminating: cascade.py wakes on it
        self.gc_wakeup = asyncio.Event()
        # one read-modify-write at a time per object: an update or patch without a
        # resourceVersion never loses a race to another one (kube-apiserver retries those)
        self._writers = _KeyLocks()

    async def ensure_namespaces(self) -> None:
        """Create the namespaces every cluster starts with, each with its ServiceAccount
        `default` (idempotent)."""
        for ns in INITIAL_NAMESPACES:
            with contextlib.suppress(AlreadyExists):
                await self.create("namespaces", {"metadata": {"name": ns}})
            await self.ensure_default_account(ns)

    async def ensure_default_account(self, namespace: str) -> bool:
        """Create the namespace's ServiceAccount `default` when it has none (what
        kube-controller-manager's serviceaccounts controller does); True when made. A
        namespace that is gone or terminating gets none."""
        try:
            await self.create("serviceaccounts", saadmission.default_account(namespace))
        except (AlreadyExists, NotFound, Forbidden):
            return False
        log.info("service_account_created", namespace=namespace, name="default")
        return True

    async def _admit_service_account(self, pod: Obj, namespace: str) -> None:
        """kube-apiserver's ServiceAccount admission of a pod create (saadmission.py), with
        its token volume (tokenvolume.py)."""
        refused = saadmission.mirror_refusal(pod)
        if refused is not None:
            raise refused
        account = saadmission.account_to_check(pod)
        if account is None:
            return
        try:
            found = await self.store.get("serviceaccounts", namespace, account)
        except NotFound:
            raise saadmission.missing(pod, namespace=namespace, account=account) from None
        suffix = apicore.generate_name_suffix()
        tokenvolume.add_token_volume(pod, found, suffix=suffix)

    # ---- reads ----

    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        r = resource_of(resource)
        return await self.store.get(resource, namespace if r.namespaced else "", name)

    async def list(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], int]:
        r = resource_of(resource)
        labels = apicore.label_selector(label_selector)
        fields = apicore.field_selector(field_selector)
        node = fields.value_for("spec.nodeName") if resource == "pods" else None
        items, rv = await self.store.list(
            resource, namespace=namespace if r.namespaced else None, node_name=node
        )
        return [o for o in items if labels.matches(o) and fields.matches(o)], rv

    async def watch(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        resource_version: int | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        r = resource_of(resource)
        labels = apicore.label_selector(label_selector)
        fields = apicore.field_selector(field_selector)
        since = self.store.resource_version if resource_version is None else resource_version
        ns = namespace if r.namespaced else None

        def matches(obj: Obj | None) -> bool:
            return obj is not None and labels.matches(obj) and fields.matches(obj)

        node = fields.value_for("spec.nodeName") if resource == "pods" else None
        # an agent's watch of its pods (`spec.nodeName=NAME` alone): the window knows each
        # pod's node before and after, so its events are matched without decoding them
        on_node = (
            bool(node)
            and labels is apicore.EVERYTHING
            and fields.sole_pin == ("spec.nodeName", node)
        )
        async for ev in self.store.watch(resource, since=since, namespace=ns, node_name=node):
            if labels is apicore.EVERYTHING and fields is apicore.EVERYTHING:
                yield ev
                continue
            placed = ev.shared if on_node else None
            now_m = placed.node == node if placed is not None else matches(ev.object)
            if ev.type != "MODIFIED":
                if now_m:
                    yield ev
                continue
            if placed is not None:
                prev_m = placed.prev_node == node if placed.prev_text is not None else now_m
            else:
                prev_m = matches(ev.prev_object) if ev.prev_object is not None else now_m
            if now_m and not prev_m:
                yield ev.retyped("ADDED")
            elif prev_m and not now_m:
                yield ev.retyped("DELETED")
            elif now_m:
                yield ev

    # ---- create ----

    async def create(
        self, resource: str, obj: Obj, *, namespace: str | None = None, admit: Admit | None = None
    ) -> Obj:
        r = resource_of(resource)
        obj = jsontext.clone(obj)
        meta = meta_of(obj)
        if r.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise BadRequest(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            ns = str(body_ns or namespace or "default")
            meta["namespace"] = ns
            await self._require_namespace(ns)
        else:
            meta.pop("namespace", None)
        if admit is not None:
            admit(None, obj)
        if r.kind == "Pod":
            await self._admit_service_account(obj, str(meta.get("namespace") or ""))
            add_default_tolerations(obj)
        obj["apiVersion"], obj["kind"] = r.api_version, r.kind
        for key in (*SERVER_OWNED_META, "resourceVersion", "selfLink"):
            meta.pop(key, None)
        meta["creationTimestamp"] = apicore.format_time(self.clock())
        if "spec" in obj or r.kind in ("DaemonSet", "Pod", "Node"):
            meta["generation"] = 1
        if r.kind in CREATE_STATUS:
            obj["status"] = CREATE_STATUS[r.kind](obj)
        generated = not meta.get("name") and bool(meta.get("generateName"))
        for attempt in range(8):
            if generated:
                meta["name"] = f"{meta['generateName']}{apicore.generate_name_suffix()}"
            candidate = self._prepare(r, obj)
            try:
                created = await self.store.create(resource, candidate)
            except AlreadyExists:
                if generated and attempt < 7:
                    continue
                raise
            log.debug("object_created", resource=resource, name=meta.get("name"))
            if r.kind == "Namespace":
                # made with its namespace, so a pod created right after finds it (the
                # controller makes it a moment later in Kubernetes: docs/rbac.md)
                await self.ensure_default_account(name_of(created))
            return created
        raise AssertionError("unreachable")

    def _prepare(
        self, r: Resource, obj: Obj, old: Obj | None = None, *, status_only: bool = False
    ) -> Obj:
        """Defaults then validation; Invalid (with every cause) before anything is stored.
        `status_only`: a status subresource write, whose object is the stored one but for
        its status. It is defaulted, not validated again: validation never reads a status,
        so it could only fail on rules the stored object predates, and kube-apiserver's
        status strategies (ValidatePodStatusUpdate and the like) do not look there either."""
        name = str(meta_of(obj).get("name") or "")
        if not name:
            raise invalid(
                r,
                "",
                [
                    FieldError(
                        field="metadata.name",
                        type="Required value",
                        detail="name or generateName is required",
                        reason="FieldValueRequired",
                    )
                ],
            )
        obj = apicore.default_object(obj)  # a copy: the caller's object is not touched
        if status_only:
            return obj
        errors = apicore.validate_object(obj)
        if old is not None:
            errors += apicore.validate_update(r.kind, obj, old)
        if errors:
            raise invalid(r, name, errors)
        return obj

    async def _require_namespace(self, ns: str) -> None:
        try:
            existing = await self.store.get("namespaces", "", ns)
        except NotFound:
            raise NotFound(f'namespaces "{ns}" not found', name=ns, kind="namespaces") from None
        if meta_of(existing).get("deletionTimestamp"):
            raise Forbidden(
                f"unable to create new content in namespace {ns} because it is being terminated",
                name=ns,
                kind="namespaces",
            )

    # ---- update and patch ----

    async def update(
        self,
        resource: str,
        obj: Obj,
        *,
        subresource: Subresource = "",
        admit: Admit | None = None,
    ) -> Obj:
        r = resource_of(resource)
        meta = meta_of(obj)
        ns = str(meta.get("namespace") or "") if r.namespaced else ""
        name = str(meta.get("name") or "")
        wanted = rv_of(obj)
        async with self._writers.hold((resource, ns, name)):
            for _attempt in range(16):
                current = await self.store.get(resource, ns, name) if name else None
                if current is None:
                    raise not_found(resource, name)
                if wanted and wanted != rv_of(current):
                    raise conflict(resource, name)
                try:
                    return await self._update(r, jsontext.clone(obj), current, subresource, admit)
                except Conflict:
                    if wanted:
                        raise
        raise conflict(resource, name)

    async def _update(
        self,
        r: Resource,
        obj: Obj,
        current: Obj,
        subresource: Subresource,
        admit: Admit | None = None,
    ) -> Obj:
        """Write `obj` over `current` (CAS on current's version) with the API server's rules.
        `admit` sees the object as sent (or patched), before a status write keeps only its
        status: where kube-apiserver's admission sees it."""
        if admit is not None:
            admit(current, obj)
        if subresource == "status":
            new = jsontext.clone(current)
            new["status"] = obj.get("status") or {}
        else:
            new = obj
            if "status" in r.subresources:
                if "status" in current:
                    new["status"] = current["status"]
                else:
                    new.pop("status", None)
        meta, old_meta = meta_of(new), meta_of(current)
        for key in SERVER_OWNED_META:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if r.namespaced:
            meta["namespace"] = old_meta.get("namespace")
        new["apiVersion"], new["kind"] = r.api_version, r.kind
        meta["resourceVersion"] = rv_of(current)
        if r.kind == "DaemonSet":
            new["status"] = {**DAEMONSET_STATUS_ZERO, **(new.get("status") or {})}
        if r.kind == "Pod" and subresource != "status":
            add_default_tolerations(new)  # as on create: a replace keeps them
        new = self._prepare(r, new, current, status_only=subresource == "status")
        if new.get("spec") != current.get("spec") and "generation" in old_meta:
            meta = meta_of(new)
            meta["generation"] = int(old_meta["generation"]) + 1
        if finished(r, new):
            deleted = await self.store.delete(
                r.name,
                str(meta.get("namespace") or ""),
                str(meta["name"]),
                resource_version=int(rv_of(current)),
            )
            self.gc_wakeup.set()
            return deleted
        if same_but_version(new, current):
            return current
        stored = await self.store.update(r.name, new)
        if meta.get("deletionTimestamp"):
            self.gc_wakeup.set()  # after the write: the collector must see it
        return stored

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
        inspect: Callable[[Obj], None] | None = None,
        admit: Admit | None = None,
    ) -> tuple[Obj, bool]:
        """Registry.patch; `inspect` (if given) sees each patched object before it is
        written, and may raise to refuse it (REST: unknown-field warnings, Strict)."""
        r = resource_of(resource)
        ns = namespace if r.namespaced else ""
        async with self._writers.hold((resource, ns, name)):
            for _attempt in range(16):
                try:
                    current = await self.store.get(resource, ns, name)
                except NotFound:
                    if (
                        not (create_if_absent or content_type.startswith(APPLY_PATCH))
                        or subresource
                    ):
                        raise
                    if inspect is not None:
                        stub: Obj = {"apiVersion": r.api_version, "kind": r.kind}
                        stub["metadata"] = {"name": name}
                        inspect(apply_patch(stub, body, content_type, kind=r.kind))
                    return await self._apply_create(r, ns, name, body, admit), True
                patched = apply_patch(current, body, content_type, kind=r.kind)
                if inspect is not None:
                    inspect(patched)
                # Only a resourceVersion the patch itself sets pins the write: the patched
                # object keeps current's version otherwise, so a write that raced this one
                # (a delete, a cascade) is retried on the re-read object, and a pinned
                # version is then stale and answers 409 here.
                pinned = rv_of(patched)
                if pinned and pinned != rv_of(current):
                    raise conflict(resource, name)
                meta = meta_of(patched)
                if meta.get("name", name) != name:
                    raise BadRequest("the name of the object does not match the name on the URL")
                meta["name"] = name
                with contextlib.suppress(Conflict):
                    return await self._update(r, patched, current, subresource, admit), False
        raise conflict(resource, name)

    async def _apply_create(
        self, r: Resource, ns: str, name: str, body: bytes, admit: Admit | None
    ) -> Obj:
        obj = apply_patch({}, body, APPLY_PATCH, kind=r.kind)  # decoded, typed, bounded
        meta = meta_of(obj)
        if meta.get("name", name) != name:
            raise BadRequest("the name of the object does not match the name on the URL")
        meta["name"] = name
        return await self.create(r.name, obj, namespace=ns or None, admit=admit)

    # ---- delete ----

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
        r = resource_of(resource)
        ns = namespace if r.namespaced else ""
        if propagation_policy is not None and propagation_policy not in PROPAGATION_POLICIES:
            raise invalid(
                r,
                name,
                [
                    FieldError(
                        field="propagationPolicy",
                        type="Unsupported value",
                        value=propagation_policy,
                        detail='supported values: "Foreground", "Background", "Orphan", "nil"',
                        reason="FieldValueNotSupported",
                    )
                ],
            )
        for _attempt in range(16):
            current = await self.store.get(resource, ns, name)
            if admit is not None:
                admit(current, None)
            meta = meta_of(current)
            if uid and uid != meta.get("uid"):
                raise Conflict(
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                    f"{meta.get('uid')}",
                    name=name,
                    group=r.group,
                    kind=resource,
                )
            if resource_version and resource_version != rv_of(current):
                raise Conflict(
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{resource_version}, ResourceVersion in object meta: {rv_of(current)}",
                    name=name,
                    group=r.group,
                    kind=resource,
                )
            try:
                return await self._delete(
                    r, current, propagation_policy or "Background", grace_period_seconds
                )
            except Conflict:
                continue
        raise conflict(resource, name)

    async def _delete(self, r: Resource, current: Obj, policy: str, grace: int | None) -> Obj:
        new = jsontext.clone(current)
        meta = meta_of(new)
        now = self.clock()
        if r.kind == "Node":
            # deleting a Node revokes its credential at once (k3s deletes the node password
            # with the node): before the Node goes, so no failure leaves a live credential
            # behind a deleted Node; through self.store, so a dry run revokes nothing
            await revoke_node_credentials(self.store, name_of(new))
        if r.kind == "Pod":
            grace = pod_grace(new, grace)
            if grace > 0:
                old_grace = meta.get("deletionGracePeriodSeconds")
                if old_grace is not None and int(old_grace) <= grace:
                    return current  # already terminating, with no longer a grace than asked
                meta["deletionTimestamp"] = apicore.format_time(now + grace)
                meta["deletionGracePeriodSeconds"] = grace
                log.info(
                    "pod_terminating",
                    namespace=meta.get("namespace"),
                    name=meta.get("name"),
                    grace=grace,
                )
                return await self.store.update(r.name, new)
            meta.pop("deletionGracePeriodSeconds", None)
        finalizers = list(meta.get("finalizers") or [])
        if r.kind == "Namespace":
            if name_of(new) in PROTECTED_NAMESPACES:
                raise Forbidden(
                    f'namespaces "{name_of(new)}" is forbidden: this namespace may not be deleted',
                    name=name_of(new),
                    kind="namespaces",
                )
            finalizers = (
                [*finalizers, NAMESPACE_FINALIZER]
                if NAMESPACE_FINALIZER not in finalizers
                else finalizers
            )
            new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
        if policy != "Background" and await self.has_dependents(str(meta.get("uid"))):
            wanted = FOREGROUND_FINALIZER if policy == "Foreground" else ORPHAN_FINALIZER
            if wanted not in finalizers:
                finalizers.append(wanted)
        if finalizers:
            meta["finalizers"] = finalizers
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = apicore.format_time(now)
            meta["deletionGracePeriodSeconds"] = 0
            if same_but_version(new, current):
                return current
            stored = await self.store.update(r.name, new)
            self.gc_wakeup.set()
            return stored
        deleted = await self.store.delete(
            r.name,
            str(meta.get("namespace") or ""),
            str(meta["name"]),
            resource_version=int(rv_of(current)),
        )
        self.gc_wakeup.set()
        return deleted

    async def has_dependents(self, uid: str) -> bool:
        for r in BY_NAME.values():
            items, _ = await self.store.list(r.name)
            if any(uid in owner_uids(o) for o in items):
                return True
        return False
