"""The admission of one REST write: NodeRestriction (server/noderestriction.py) for node
callers, then RBAC escalation prevention (rbacadmission.py) for RBAC objects.

`admission_for(request, call)` gives the hook the handlers pass to the registry's create,
update, patch and delete (None for callers NodeRestriction leaves alone); the registry calls
it with the stored object and the one about to be written. Reading the caller's Node for a
pod create (its uid must own a mirror pod) is the only I/O, done before the write starts.
"""

from __future__ import annotations

from aiohttp import web

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import NotFound
from nodeagent.server import noderestriction
from nodeagent.server.registry_protocol import Admit
from nodeagent.server.rest import keys
from nodeagent.server.rest.rbacadmission import escalation_admission
from nodeagent.server.rest.request import Call


async def admission_for(request: web.Request, call: Call) -> Admit | None:
    """The hook that refuses what the caller may not write; None when nothing is checked."""
    nodes = await _node_admission(request, call)
    escalation = escalation_admission(request, call)
    if nodes is None or escalation is None:
        return nodes or escalation

    def both(old: Obj | None, new: Obj | None) -> None:
        nodes(old, new)
        escalation(old, new)

    return both


async def _node_admission(request: web.Request, call: Call) -> Admit | None:
    """NodeRestriction's hook for a node caller; None for other callers."""
    node = request[keys.USER].node
    if node is None:
        return None
    resource = call.target.resource.name
    node_uid: str | None = None
    if resource == "pods" and call.verb == "create":
        try:
            node_uid = meta.uid_of(await request.app[keys.REGISTRY].get("nodes", "", node))
        except NotFound:
            node_uid = None

    def admit(old: Obj | None, new: Obj | None) -> None:
        error = noderestriction.admit(
            node,
            noderestriction.Write(
                operation="CREATE" if old is None else "DELETE" if new is None else "UPDATE",
                resource=resource,
                subresource=call.target.subresource,
                namespace=call.namespace or meta.namespace_of(new or {}),
                name=call.name or meta.name_of(new or {}),
                obj=new,
                old=old,
                node_uid=node_uid,
            ),
        )
        if error is not None:
            raise error

    return admit
