"""`kubectl get componentstatuses` (`cs`): the server's /readyz checks as v1 ComponentStatus
objects, computed on each request and never stored.

kube-apiserver (the API is deprecated since 1.19 and still served) probes the scheduler, the
controller-manager and each etcd member. This server has no scheduler and runs its controllers
in its own process (or in the elected leader), so its components are what /readyz checks:
`store` (SQLite or etcd), Healthy with the message `ok`, or Unhealthy with the check's problem
as the error. Each answer carries kube-apiserver's deprecation warning. Reads only (get, list),
for whoever RBAC allows (the admin; no default role grants them, as in Kubernetes).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from aiohttp import web

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import NotFound
from nodeagent.server.auth import Attributes, authorize
from nodeagent.server.rest import keys
from nodeagent.server.rest.handlers import respond
from nodeagent.server.rest.request import wants_table
from nodeagent.server.rest.tables import render_table

RESOURCE = "componentstatuses"
COLLECTION = f"/api/v1/{RESOURCE}"
DEPRECATION = "v1 ComponentStatus is deprecated in v1.19+"


def component_statuses(checks: Mapping[str, str]) -> list[Obj]:
    """PURE. One ComponentStatus per readiness check (name -> problem, "" when it passes),
    by name, as kube-apiserver writes them."""
    items = []
    for name, problem in sorted(checks.items()):
        condition: Obj = {"type": "Healthy", "status": "False" if problem else "True"}
        condition.update({"error": problem} if problem else {"message": "ok"})
        items.append(
            {
                "kind": "ComponentStatus",
                "apiVersion": "v1",
                "metadata": {"name": name},
                "conditions": [condition],
            }
        )
    return items


def _authorize(request: web.Request, verb: str, name: str = "") -> None:
    denied = authorize(
        request[keys.USER],
        Attributes(verb=verb, resource=RESOURCE, name=name),
        request.app[keys.RBAC].policy,
    )
    if denied is not None:
        raise denied


def _answer(request: web.Request, items: list[Obj], whole: Obj) -> web.Response:
    if wants_table(request):
        whole = render_table(RESOURCE, items, resource_version="", now=time.time())
    return respond(whole, warnings=[DEPRECATION])


async def list_statuses(request: web.Request) -> web.StreamResponse:
    _authorize(request, "list")
    checks: dict[str, str] = request.app[keys.READY]
    items = component_statuses(checks)
    whole = {"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": items}
    return _answer(request, items, whole)


async def get_status(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    _authorize(request, "get", name)
    checks: dict[str, str] = request.app[keys.READY]
    found = [s for s in component_statuses(checks) if s["metadata"]["name"] == name]
    if not found:
        raise NotFound(f'componentstatuses "{name}" not found', name=name, kind=RESOURCE)
    return _answer(request, found, found[0])


def add_routes(app: web.Application) -> None:
    app.router.add_get(COLLECTION, list_statuses)
    app.router.add_get(COLLECTION + "/{name}", get_status)
