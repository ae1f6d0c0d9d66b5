"""`POST pods/NAME/eviction` (policy/v1 Eviction): kube-apiserver's Eviction API, which
`kubectl drain` uses when discovery lists it (it prints `evicting pod NS/NAME`, then `pod/NAME
evicted`) and the Python client's `create_namespaced_pod_eviction` calls.

There are no PodDisruptionBudgets here, so an eviction is always allowed: it deletes the pod
with the Eviction's deleteOptions (grace period, preconditions, dryRun) and answers 201 with a
Success Status, as kube-apiserver does when no budget stands in the way. It is authorized as
`create pods/eviction` (a node's system:node role holds it) and admitted as the pod's delete
(NodeRestriction: a node evicts only pods bound to it).
"""

from __future__ import annotations

from aiohttp import web

from nodeagent.api.errors import BadRequest
from nodeagent.api.resources import BY_NAME
from nodeagent.api.typecheck import type_errors
from nodeagent.server.rest.admission import admission_for
from nodeagent.server.rest.handlers import authorize_call, registry_of, respond
from nodeagent.server.rest.request import Call, Target, decode_object, media_type

PATH = "/api/v1/namespaces/{namespace}/pods/{name}/eviction"
SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def evict(request: web.Request) -> web.StreamResponse:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    eviction = decode_object(await request.read(), media_type(request))
    if eviction.get("kind") not in (None, "Eviction"):
        raise BadRequest(f"expected an Eviction, got {eviction.get('kind')}")
    meta = eviction.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("name") != name:
        raise BadRequest("name in URL does not match name in Eviction object")
    if meta.get("namespace") not in (None, "", namespace):
        raise BadRequest("namespace in URL does not match namespace in Eviction object")
    pods = BY_NAME["pods"]
    asked = Call(
        target=Target(resource=pods, item=True, subresource="eviction"),
        verb="create",
        namespace=namespace,
        name=name,
    )
    await authorize_call(request, asked)
    opts = eviction.get("deleteOptions") or {}
    errors = type_errors(opts, "DeleteOptions") if isinstance(opts, dict) else []
    if not isinstance(opts, dict) or errors:
        text = "; ".join(str(e) for e in errors) or "deleteOptions: must be an object"
        raise BadRequest(f"Eviction is invalid: {text}", kind="Eviction", causes=errors)
    pre = opts.get("preconditions")
    pre = pre if isinstance(pre, dict) else {}
    grace = opts.get("gracePeriodSeconds")
    deletion = Call(
        target=Target(resource=pods, item=True), verb="delete", namespace=namespace, name=name
    )
    await registry_of(request, dry_run=opts.get("dryRun")).delete(
        "pods",
        namespace,
        name,
        grace_period_seconds=int(grace) if grace is not None else None,
        resource_version=pre.get("resourceVersion"),
        uid=pre.get("uid"),
        admit=await admission_for(request, deletion),
    )
    return respond(SUCCESS, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_post(PATH, evict)
