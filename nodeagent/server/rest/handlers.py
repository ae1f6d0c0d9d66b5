"""The generic REST handlers: one per verb, for every resource in the table (rules as data).

get, list, create, update, patch, delete, deletecollection and the status subresource, each
authorized first (auth.py) and carried out through the Registry. Watches are in watch.py;
error-to-Status and metrics are middlewares in app.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from nodeagent.api import jsontext, protobuf, schema
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import (
    BadRequest,
    FieldError,
    Invalid,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
)
from nodeagent.api.paging import page_request, take_page
from nodeagent.api.patch import APPLY_PATCH
from nodeagent.api.resources import Resource
from nodeagent.api.typecheck import check_types, type_errors
from nodeagent.server import apicore, nodegraph, podsupport
from nodeagent.server.auth import Attributes, User, authorize
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.registry_protocol import Subresource
from nodeagent.server.rest import keys
from nodeagent.server.rest.admission import admission_for
from nodeagent.server.rest.request import (
    PATCH_TYPES,
    YAML_TYPES,
    Call,
    Target,
    decode_object,
    flag,
    include_object,
    int_param,
    media_type,
    resource_version,
    verb_of,
    wants_table,
)
from nodeagent.server.rest.tables import render_table
from nodeagent.server.rest.watch import serve_watch
from nodeagent.server.store.dryrun import DryRunStore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dumps(obj: Any) -> str:
    return jsontext.dumps(obj)


def respond(obj: Obj, *, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    # "application/json" exactly, as kube-apiserver writes it: JSON is UTF-8 by definition
    # (RFC 8259), and clients compare the whole header (lightkube raises ApiError only then)
    response = web.Response(body=jsontext.dumpb(obj), status=status, content_type=JSON)
    shown = warnings or []
    if len(shown) > MAX_WARNINGS:
        shown = [*shown[: MAX_WARNINGS - 1], f"and {len(shown) - MAX_WARNINGS + 1} more warnings"]
    for w in shown:
        response.headers.add("Warning", '299 - "' + _header_text(w).replace('"', '\\"') + '"')
    return response


JSON = "application/json"
MAX_WARNINGS = 50  # Warning headers on one response (their text comes from the request)
MAX_WARNING_CHARS = 512


def _header_text(text: str) -> str:
    """A warning's text fit for a header: field names come from the body, and a control
    character in a header is refused by aiohttp (the connection closed, no answer)."""
    safe = "".join(c if c.isprintable() else "?" for c in text)
    return safe if len(safe) <= MAX_WARNING_CHARS else safe[: MAX_WARNING_CHARS - 3] + "..."


def handler_for(target: Target) -> Handler:
    """The aiohttp handler of one generated route."""

    async def handle(request: web.Request) -> web.StreamResponse:
        verb = verb_of(request, target)
        if verb is None:
            raise MethodNotAllowed(
                f"the server does not allow this method on the requested resource "
                f"({request.method} {target.resource.name})"
            )
        call = Call(
            target=target,
            verb=verb,
            namespace=request.match_info.get("namespace", ""),
            name=request.match_info.get("name", ""),
        )
        request[keys.CALL] = call
        if verb in ("get", "list", "watch"):
            resource_version(request)  # a bad one is 400 before anything is read
        return await VERBS[verb](request, call)

    return handle


def registry_of(request: web.Request, *, dry_run: list[str] | None = None) -> StoreRegistry:
    """The server's registry, or with `dryRun=All` (query, or DeleteOptions.dryRun) one that
    checks every rule of a write and stores nothing (store/dryrun.py)."""
    registry = request.app[keys.REGISTRY]
    wanted = dry_run if dry_run is not None else request.query.getall("dryRun", [])
    unsupported = [v for v in wanted if v != "All"]
    if unsupported:
        raise BadRequest(f'Invalid dry run value: {unsupported[0]!r}: supported values: "All"')
    if not wanted:
        return registry
    return StoreRegistry(DryRunStore(registry.store), clock=registry.clock)


async def authorize_call(
    request: web.Request,
    call: Call,
    *,
    obj: Obj | None = None,
    node_selector: str | None = None,
    name: str | None = None,
) -> None:
    """Forbidden unless the caller may do this; a node's read of one pod is checked against
    the pod, of a ConfigMap or Secret against the node's pods (the node authorizer's
    graph). `name`: a list/watch's metadata.name selector."""
    user: User = request[keys.USER]
    if user.is_admin:
        return
    r = call.target.resource
    name = call.name or name or ""
    if obj is None and name and r.name == "pods" and call.verb in ("get", "list", "watch"):
        try:
            obj = await registry_of(request).get(r.name, call.namespace, name)
        except NotFound:
            obj = None  # related to no node: 403, as for another node's pod
    referenced = False
    if user.node is not None and name and r.name in nodegraph.REFERENCED:
        # the graph, read per request: this node's pods come from the store's nodeName
        # index, so the cost is the pods bound to the node (docs/security.md, "Secrets")
        pods, _ = await registry_of(request).list(
            "pods", namespace=call.namespace, field_selector=f"spec.nodeName={user.node}"
        )
        referenced = nodegraph.related(
            pods, node=user.node, resource=r.name, namespace=call.namespace, name=name
        )
    error = authorize(
        user,
        Attributes(
            verb=call.verb,
            resource=r.name,
            subresource=call.target.subresource,
            namespace=call.namespace,
            name=name,
            node_selector=node_selector,
            obj=obj,
            referenced=referenced,
        ),
        request.app[keys.RBAC].policy,
    )
    if error is not None:
        raise error


FIELD_VALIDATION = ("Ignore", "Strict", "Warn")
OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


def check_fields(request: web.Request, obj: Obj | None, body: bytes = b"") -> list[str]:
    """fieldValidation: Strict -> 400 on unknown or duplicate fields, Warn (the default) ->
    warnings. `body` is the JSON text (if any) whose duplicate keys are looked for; YAML
    refuses duplicate keys whatever the mode (as Kubernetes' YAML decoder does)."""
    mode = request.query.get("fieldValidation") or "Warn"
    if mode not in FIELD_VALIDATION:
        error = FieldError(
            field="fieldValidation",
            type="Unsupported value",
            value=mode,
            detail='supported values: "Ignore", "Strict", "Warn"',
            reason="FieldValueNotSupported",
        )
        options = OPTIONS_KIND.get(request.method, "CreateOptions")
        raise Invalid(
            f'{options}.meta.k8s.io "" is invalid: {error}',
            kind=options,
            group="meta.k8s.io",
            causes=[error],
        )
    if mode == "Ignore":
        return []
    messages = [f'unknown field "{f}"' for f in schema.unknown_fields(obj)] if obj else []
    if body and media_type(request) not in (*YAML_TYPES, APPLY_PATCH, protobuf.MEDIA_TYPE):
        messages += [f'duplicate field "{f}"' for f in jsontext.duplicate_fields(body)]
    if messages and mode == "Strict":
        raise BadRequest("strict decoding error: " + ", ".join(messages))
    return messages


def _metadata(obj: Obj) -> Obj:
    """obj's metadata, made a map when absent or null (the type gate let only those through)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def decode_body(request: web.Request, call: Call, body: bytes) -> tuple[Obj, list[str]]:
    """A create or update body: decoded (bounded), every field of the right JSON type (422
    naming each one), and the fieldValidation warnings."""
    obj = decode_object(body, media_type(request))
    check_types(obj, kind=call.target.resource.kind, name=call.name)
    return obj, check_fields(request, obj, body)


def _now() -> float:
    return time.time()


def render(request: web.Request, call: Call, items: list[Obj], rv: str) -> Obj:
    return render_table(
        call.target.resource.name,
        items,
        resource_version=rv,
        now=_now(),
        include_object=include_object(request),
    )


# ---- verbs ----


async def get(request: web.Request, call: Call) -> web.StreamResponse:
    r = call.target.resource
    try:
        obj = await registry_of(request).get(r.name, call.namespace, call.name)
    except NotFound:
        await authorize_call(request, call)  # a node is told 403 for what is not its own
        raise
    await authorize_call(request, call, obj=obj)
    if wants_table(request):
        return respond(render(request, call, [obj], str(obj["metadata"]["resourceVersion"])))
    return respond(obj)


async def list_(request: web.Request, call: Call) -> web.StreamResponse:
    r = call.target.resource
    fields = request.query.get("fieldSelector")
    await authorize_call(
        request, call, node_selector=_pinned_node(fields), name=_pinned_name(fields)
    )
    paging = page_request(request.query)
    labels = request.query.get("labelSelector")
    items, rv = await registry_of(request).list(
        r.name, namespace=call.namespace or None, label_selector=labels, field_selector=fields
    )
    page = take_page(items, paging, resource_version=rv)
    list_meta: Obj = {"resourceVersion": str(paging.resource_version or rv)}
    if page.continue_token:
        list_meta["continue"] = page.continue_token
        if not labels and not fields:  # kube-apiserver counts only unfiltered lists
            list_meta["remainingItemCount"] = page.remaining
    if wants_table(request):
        table = render(request, call, page.items, list_meta["resourceVersion"])
        table["metadata"] = list_meta
        return respond(table)
    return respond(
        {
            "kind": f"{r.kind}List",
            "apiVersion": r.api_version,
            "metadata": list_meta,
            "items": page.items,
        }
    )


def _agent_warnings(call: Call, obj: Obj) -> list[str]:
    """What the agent will not honour in a written Pod or DaemonSet (podsupport.py), as
    Warning headers; none for a status write."""
    return [] if call.target.subresource else podsupport.warnings_for(obj)


def _pinned_node(field_selector: str | None) -> str | None:
    return apicore.field_selector(field_selector).value_for("spec.nodeName")


def _pinned_name(field_selector: str | None) -> str | None:
    """kube-apiserver authorizes a list or watch by metadata.name=X as a read of X."""
    return apicore.field_selector(field_selector).value_for("metadata.name")


async def create(request: web.Request, call: Call) -> web.StreamResponse:
    r = call.target.resource
    obj, warnings = decode_body(request, call, await request.read())
    if r.namespaced:
        _metadata(obj).setdefault("namespace", call.namespace)
    await authorize_call(request, call, obj=obj)
    created = await registry_of(request).create(
        r.name,
        obj,
        namespace=call.namespace or None,
        admit=await admission_for(request, call),
    )
    return respond(created, status=201, warnings=warnings + _agent_warnings(call, created))


async def update(request: web.Request, call: Call) -> web.StreamResponse:
    r = call.target.resource
    obj, warnings = decode_body(request, call, await request.read())
    meta = _metadata(obj)
    if meta.get("name", call.name) != call.name:
        raise BadRequest(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({call.name})"
        )
    meta["name"] = call.name
    if r.namespaced:
        if meta.get("namespace", call.namespace) != call.namespace:
            raise BadRequest(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = call.namespace
    await authorize_call(request, call)
    sub: Subresource = "status" if call.target.subresource == "status" else ""
    updated = await registry_of(request).update(
        r.name, obj, subresource=sub, admit=await admission_for(request, call)
    )
    return respond(updated, warnings=warnings + _agent_warnings(call, updated))


async def patch(request: web.Request, call: Call) -> web.StreamResponse:
    r = call.target.resource
    content_type = media_type(request)
    if content_type not in PATCH_TYPES:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f'{", ".join(PATCH_TYPES)} (got "{content_type}")'
        )
    body = await request.read()
    await authorize_call(request, call)
    registry = registry_of(request)
    duplicates = check_fields(request, None, body)  # in the patch's own text
    flag(request, "force")  # checked (400 if not a boolean); apply has no conflicts to force
    warnings: list[str] = []

    def unknown_fields(patched: Obj) -> None:  # on the object the registry is about to write
        warnings[:] = duplicates + check_fields(request, patched)

    wanted = request.query.get("fieldValidation", "Warn") != "Ignore"
    sub: Subresource = "status" if call.target.subresource == "status" else ""
    obj, created = await registry.patch(
        r.name,
        call.namespace,
        call.name,
        body,
        content_type,
        subresource=sub,
        field_manager=request.query.get("fieldManager", ""),
        create_if_absent=content_type == APPLY_PATCH and not sub,
        inspect=unknown_fields if wanted else None,
        admit=await admission_for(request, call),
    )
    return respond(
        obj, status=201 if created else 200, warnings=warnings + _agent_warnings(call, obj)
    )


def delete_options(request: web.Request, body: bytes) -> Obj:
    """DeleteOptions from the body (if any), else from the query."""
    opts: Obj = {}
    if body.strip():
        opts = decode_object(body, media_type(request))
        errors = type_errors(opts, "DeleteOptions")
        if errors:
            text = "; ".join(str(e) for e in errors)
            raise BadRequest(
                f"DeleteOptions is invalid: {text}", kind="DeleteOptions", causes=errors
            )
    for name in ("propagationPolicy",):
        if name in request.query and name not in opts:
            opts[name] = request.query[name]
    grace = int_param(request, "gracePeriodSeconds")
    if grace is not None and "gracePeriodSeconds" not in opts:
        opts["gracePeriodSeconds"] = grace
    if "dryRun" in request.query and not opts.get("dryRun"):
        opts["dryRun"] = request.query.getall("dryRun")
    if "orphanDependents" in request.query and "orphanDependents" not in opts:
        opts["orphanDependents"] = flag(request, "orphanDependents")
    if opts.get("orphanDependents") is True and not opts.get("propagationPolicy"):
        opts["propagationPolicy"] = "Orphan"
    return opts


async def delete(request: web.Request, call: Call) -> web.StreamResponse:
    r = call.target.resource
    opts = delete_options(request, await request.read())
    await authorize_call(request, call)
    pre = opts.get("preconditions") or {}
    grace = opts.get("gracePeriodSeconds")
    deleted = await registry_of(request, dry_run=opts.get("dryRun")).delete(
        r.name,
        call.namespace,
        call.name,
        propagation_policy=opts.get("propagationPolicy"),
        grace_period_seconds=int(grace) if grace is not None else None,
        resource_version=pre.get("resourceVersion"),
        uid=pre.get("uid"),
        admit=await admission_for(request, call),
    )
    answer, status = deletion_answer(r, deleted, opts)
    return respond(answer, status=status)


# Kinds whose DELETE answers with the object even once it is gone (kube-apiserver's stores
# with ReturnDeletedObject: pods, services).
RETURNS_DELETED_OBJECT = frozenset({"pods", "services"})


def deletion_answer(r: Resource, obj: Obj, opts: Obj) -> tuple[Obj, int]:
    """kube-apiserver's answer to a DELETE (generic registry Store.Delete, finalizeDelete, and
    handlers/delete.go): the object while it still exists, with a deletionTimestamp
    (finalizers to run, a pod's grace period); once gone a Status naming it (details.kind is
    the resource, as kube-apiserver sets it), except for the kinds in RETURNS_DELETED_OBJECT.
    A dry run answers as the real delete would. 202 only when the object is not gone and the
    caller asked `orphanDependents: false` (kube-apiserver keeps 200 otherwise, for old
    clients). `obj` is what the registry returned: the object as stored (pending) or as it
    was when removed; only a pending one carries a deletionTimestamp (an object whose
    finalizers are all gone is removed at once). One departure: a pod force-deleted while
    terminating still has it, so it is answered 202 rather than 200 if orphanDependents:
    false was asked (with the object, as always for pods)."""
    meta = obj.get("metadata") or {}
    pending = bool(meta.get("deletionTimestamp"))
    status = 202 if pending and opts.get("orphanDependents") is False else 200
    if pending or r.name in RETURNS_DELETED_OBJECT:
        return obj, status
    details: Obj = {"name": meta.get("name", ""), "kind": r.name, "uid": meta.get("uid", "")}
    if r.group:
        details = {"name": details["name"], "group": r.group, **details}
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }, status


async def delete_collection(request: web.Request, call: Call) -> web.StreamResponse:
    r = call.target.resource
    opts = delete_options(request, await request.read())
    await authorize_call(request, call)
    registry = registry_of(request, dry_run=opts.get("dryRun"))
    items, _ = await registry.list(
        r.name,
        namespace=call.namespace or None,
        label_selector=request.query.get("labelSelector"),
        field_selector=request.query.get("fieldSelector"),
    )
    grace = opts.get("gracePeriodSeconds")
    deleted = []
    for item in items:
        meta = item["metadata"]
        deleted.append(
            await registry.delete(
                r.name,
                str(meta.get("namespace") or ""),
                str(meta["name"]),
                propagation_policy=opts.get("propagationPolicy"),
                grace_period_seconds=int(grace) if grace is not None else None,
            )
        )
    return respond(
        {
            "kind": f"{r.kind}List",
            "apiVersion": r.api_version,
            "metadata": {"resourceVersion": str(registry.store.resource_version)},
            "items": deleted,
        }
    )


async def _watch(request: web.Request, call: Call) -> web.StreamResponse:
    fields = request.query.get("fieldSelector")
    await authorize_call(
        request, call, node_selector=_pinned_node(fields), name=_pinned_name(fields)
    )
    return await serve_watch(request, call)


VERBS: dict[str, Callable[[web.Request, Call], Awaitable[web.StreamResponse]]] = {
    "get": get,
    "list": list_,
    "watch": _watch,
    "create": create,
    "update": update,
    "patch": patch,
    "delete": delete,
    "deletecollection": delete_collection,
}
