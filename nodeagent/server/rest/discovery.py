"""API discovery as kubectl reads it: /api, /apis (aggregated v2 or legacy), the per-group
APIResourceLists, /version, and the OpenAPI routes (documents from rest/openapi.py).

Everything is generated from nodeagent.api.resources.DISCOVERED (the served resources and
the create-only reviews). The documents are pure
functions (`api_versions`, `aggregated_discovery`, ...); `add_routes(app)` serves them.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from nodeagent import KUBERNETES_VERSION, __version__
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import NotFound
from nodeagent.api.resources import DISCOVERED, Resource
from nodeagent.server.rest import openapi, proxy

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
_AGGREGATED_VERSIONS = {"v2": AGGREGATED_V2, "v2beta1": AGGREGATED_V2BETA1}

# Subresource -> (verbs, response kind or "" for the parent's kind). Rules as data.
SUBRESOURCES: Mapping[str, tuple[tuple[str, ...], str]] = {
    "status": (("get", "patch", "update"), ""),
    "log": (("get",), ""),
    "exec": (("create", "get"), "PodExecOptions"),
    "attach": (("create", "get"), "PodAttachOptions"),
    "token": (("create",), "TokenRequest"),
    "eviction": (("create",), "Eviction"),
}
# Subresources whose response kind is in another group: (group, version).
SUBRESOURCE_GROUPS: Mapping[str, tuple[str, str]] = {
    "token": ("authentication.k8s.io", "v1"),
    "eviction": ("policy", "v1"),
}


def group_versions() -> list[tuple[str, str]]:
    """(group, version) pairs in table order, the core group ("") first."""
    seen: list[tuple[str, str]] = []
    for r in sorted(DISCOVERED, key=lambda r: r.group != ""):
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen


def _resources(group: str, version: str) -> list[Resource]:
    return [r for r in DISCOVERED if r.group == group and r.version == version]


def api_versions() -> Obj:
    """Legacy `GET /api`: APIVersions."""
    return {
        "kind": "APIVersions",
        "versions": [v for g, v in group_versions() if g == ""],
        "serverAddressByClientCIDRs": [],
    }


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for group, version in group_versions():
        if group:
            groups.setdefault(group, []).append(version)
    return groups


def api_group(name: str) -> Obj:
    """`GET /apis/{group}`: APIGroup, its versions and the preferred one."""
    versions = _groups()[name]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{name}/{versions[0]}", "version": versions[0]},
    }


def api_group_list() -> Obj:
    """Legacy `GET /apis`: APIGroupList of the named groups."""
    groups = [api_group(name) for name in _groups()]
    for group in groups:
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str) -> Obj:
    """`GET /api/v1`, `GET /apis/apps/v1`: APIResourceList (subresources as `pods/status`)."""
    entries: list[Obj] = []
    for r in _resources(group, version):
        entry: Obj = {
            "name": r.name,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entries.append(entry)
        for sub in r.subresources:
            verbs, kind = SUBRESOURCES.get(sub, (("get",), ""))
            entry = {
                "name": f"{r.name}/{sub}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind or r.kind,
                "verbs": list(verbs),
            }
            if sub in SUBRESOURCE_GROUPS:
                entry["group"], entry["version"] = SUBRESOURCE_GROUPS[sub]
            entries.append(entry)
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }


def _discovery_resource(r: Resource) -> Obj:
    entry: Obj = {
        "resource": r.name,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    subresources = []
    for sub in r.subresources:
        verbs, kind = SUBRESOURCES.get(sub, (("get",), ""))
        group, version = SUBRESOURCE_GROUPS.get(sub, (r.group, r.version))
        subresources.append(
            {
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind or r.kind},
                "verbs": list(verbs),
            }
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated_discovery(*, core: bool, api_version: str = "v2") -> Obj:
    """`GET /api` (core=True) or `GET /apis` as an APIGroupDiscoveryList."""
    items: list[Obj] = []
    for group, version in group_versions():
        if (group == "") != core:
            continue
        version_entry = {
            "version": version,
            "freshness": "Current",
            "resources": [_discovery_resource(r) for r in _resources(group, version)],
        }
        existing = next((i for i in items if i["metadata"].get("name", "") == group), None)
        if existing is None:
            metadata = {"name": group} if group else {}
            items.append({"metadata": metadata, "versions": [version_entry]})
        else:
            existing["versions"].append(version_entry)
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{api_version}",
        "metadata": {},
        "items": items,
    }


def version_info() -> Obj:
    """`GET /version`: the Kubernetes version whose API this server follows."""
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"{KUBERNETES_VERSION}+nodeagent-{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{_arch()}",
    }


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def aggregated_version_wanted(accept: str) -> str | None:
    """The apidiscovery version the Accept header asks for first ("v2", "v2beta1"), or None
    when the client wants the legacy documents."""
    for media_range in accept.split(","):
        parts = [p.strip() for p in media_range.split(";")]
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if params.get("as") == "APIGroupDiscoveryList" and params.get("g") == (
            "apidiscovery.k8s.io"
        ):
            version = params.get("v", "")
            if version in _AGGREGATED_VERSIONS:
                return version
        elif parts[0] in ("application/json", "*/*", "application/*") and "as" not in params:
            return None
    return None


# ---------------------------------------------------------------- routes


def _json(body: Obj, content_type: str = "application/json") -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), content_type=None, headers={"Content-Type": content_type}
    )


def _root(core: bool) -> Any:
    async def handler(request: web.Request) -> web.Response:
        version = aggregated_version_wanted(request.headers.get("Accept", ""))
        if version is not None:
            return _json(
                aggregated_discovery(core=core, api_version=version),
                _AGGREGATED_VERSIONS[version],
            )
        return _json(api_versions() if core else api_group_list())

    return handler


def _group(name: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return _json(api_group(name))

    return handler


def _resource_list(group: str, version: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return _json(api_resource_list(group, version))

    return handler


async def _version(request: web.Request) -> web.Response:
    return _json(version_info())


async def _openapi_v2(request: web.Request) -> web.Response:
    error = NotFound("the server could not find the requested resource")
    return web.Response(
        status=error.code,
        body=json.dumps(error.status_body()).encode(),
        content_type=None,
        headers={"Content-Type": "application/json"},
    )


async def _openapi_v3_root(request: web.Request) -> web.Response:
    return _json(openapi.v3_root())


def _openapi_v3_document(group: str, version: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        document, digest = openapi.v3_document(group, version)
        headers = {"Content-Type": "application/json", "Etag": f'"{digest}"'}
        if request.query.get("hash") == digest:
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = "Fri, 31 Dec 9999 23:59:59 GMT"
        else:
            headers["Cache-Control"] = "no-cache, private"
        return web.Response(body=document, content_type=None, headers=headers)

    return handler


def add_routes(app: web.Application) -> None:
    """Serve discovery, /version and OpenAPI on `app` (auth is the app's middleware's job),
    and the kubectl logs/exec proxy (proxy.add_routes, idempotent)."""
    proxy.add_routes(app)

    def both(path: str, handler: Any) -> None:
        # kube-apiserver answers these with a trailing slash too: the Python client asks
        # /version/, /api/, /apis/ and /apis/{group}/{version}/.
        app.router.add_get(path, handler)
        app.router.add_get(path + "/", handler)

    both("/api", _root(core=True))
    both("/apis", _root(core=False))
    both("/version", _version)
    app.router.add_get("/openapi/v2", _openapi_v2)
    app.router.add_get("/openapi/v3", _openapi_v3_root)
    for name in _groups():
        both(f"/apis/{name}", _group(name))
    for group, version in group_versions():
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        both(prefix, _resource_list(group, version))
        app.router.add_get(f"/openapi/v3{prefix}", _openapi_v3_document(group, version))
