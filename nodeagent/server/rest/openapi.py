"""OpenAPI v3 documents for each served group-version (resources.DISCOVERED: the reviews'
groups too), built from nodeagent.api.schema.

What kubectl needs from them: the GVK extensions and a `fieldValidation` query parameter on
every PATCH operation (then `create`/`apply` leave validation to the server), and component
schemas with descriptions for `kubectl explain`. Documents are built once and cached.
"""

from __future__ import annotations

import functools
import hashlib
import json

from nodeagent.api import schema, schemabase
from nodeagent.api.bodies import Obj
from nodeagent.api.patch import patch_strategy
from nodeagent.api.resources import DISCOVERED, Resource

# Primitive field types -> schema (named ones are components, as Kubernetes names them).
_PRIMITIVES: dict[str, Obj] = {
    "string": {"type": "string"},
    "integer": {"type": "integer", "format": "int64"},
    "number": {"type": "number", "format": "double"},
    "boolean": {"type": "boolean"},
    "bytes": {"type": "string", "format": "byte"},
    "object": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}
_NAMED_PRIMITIVES: dict[str, tuple[str, Obj]] = {
    "time": (
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        {"type": "string", "format": "date-time", "description": "An RFC 3339 date and time."},
    ),
    "quantity": (
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
        {
            "description": "A fixed-point number: 200Mi, 100m, 1.5.",
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        },
    ),
    "int-or-string": (
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        {
            "description": "An int32 or a string (often a percentage).",
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        },
    ),
}
_JSON = ("application/json",)
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


def schema_name(type_name: str) -> str:
    """`DaemonSetSpec` -> `io.k8s.api.apps.v1.DaemonSetSpec`."""
    if type_name in _NAMED_PRIMITIVES:
        return _NAMED_PRIMITIVES[type_name][0]
    return f"{schema.TYPES[type_name].package}.{type_name}"


def _field_schema(type_name: str, description: str = "") -> Obj:
    if type_name.startswith("[]"):
        out: Obj = {"type": "array", "items": _field_schema(type_name[2:])}
    elif type_name.startswith("map[string]"):
        out = {"type": "object", "additionalProperties": _field_schema(type_name[11:])}
    elif type_name in _PRIMITIVES:
        out = dict(_PRIMITIVES[type_name])
    else:
        out = {"allOf": [{"$ref": _ref(schema_name(type_name))}]}
        if type_name in schema.TYPES:
            out["default"] = {}
    if description:
        out["description"] = description
    return out


def _property(name: str, fl: schemabase.Field) -> Obj:
    out = _field_schema(fl.type, fl.description)
    strategy = patch_strategy(name) if fl.type.startswith("[]") else None
    if strategy is not None:
        out["x-kubernetes-patch-strategy"] = strategy[0]
        if strategy[1]:
            out["x-kubernetes-patch-merge-key"] = strategy[1]
            out["x-kubernetes-list-type"] = "map"
            out["x-kubernetes-list-map-keys"] = [strategy[1]]
        else:
            out["x-kubernetes-list-type"] = "set"
    return out


def _component(type_name: str) -> Obj:
    t = schema.TYPES[type_name]
    out: Obj = {
        "description": t.description,
        "type": "object",
        "properties": {name: _property(name, fl) for name, fl in t.fields.items()},
    }
    if t.required:
        out["required"] = t.required
    if t.gvk:
        group, version, kind = t.gvk
        out["x-kubernetes-group-version-kind"] = [
            {"group": group, "kind": kind, "version": version}
        ]
    return out


# Query parameters as kube-apiserver documents them, with the types the server parses, and the
# values it accepts where Kubernetes documents a free string (dryRun, propagationPolicy).
# fieldValidation stays a plain string: kubectl looks for exactly that entry.
_QUERY: dict[str, Obj] = {
    "dryRun": {"type": "string", "enum": ["All"]},
    "fieldManager": {"type": "string"},
    "fieldValidation": {"type": "string"},
    "force": {"type": "boolean"},
    "labelSelector": {"type": "string"},
    "fieldSelector": {"type": "string"},
    "limit": {"type": "integer"},
    "continue": {"type": "string"},
    "resourceVersion": {"type": "string"},
    "gracePeriodSeconds": {"type": "integer"},
    "propagationPolicy": {"type": "string", "enum": ["Foreground", "Background", "Orphan"]},
    "orphanDependents": {"type": "boolean"},
}
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
STATUS = f"{META}.Status"
LIST_META = f"{META}.ListMeta"
# Components every document carries: a list's metadata, and the Status of every error.
_META_COMPONENTS: dict[str, Obj] = {
    LIST_META: {
        "description": "Metadata that synthetic resources (lists) have.",
        "type": "object",
        "properties": {
            "resourceVersion": {"type": "string"},
            "continue": {"type": "string"},
            "remainingItemCount": {"type": "integer", "format": "int64"},
        },
    },
    STATUS: {
        "description": "The return value of calls that do not return other objects: errors.",
        "type": "object",
        "properties": {
            "kind": {"type": "string"},
            "apiVersion": {"type": "string"},
            "metadata": {"allOf": [{"$ref": _ref(LIST_META)}]},
            "status": {"type": "string"},
            "message": {"type": "string"},
            "reason": {"type": "string"},
            "details": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "code": {"type": "integer", "format": "int32"},
        },
    },
}
_ERRORS: Obj = {
    "default": {
        "description": "An error, as a Status",
        "content": {"application/json": {"schema": {"$ref": _ref(STATUS)}}},
    }
}


def _params(*names: str) -> list[Obj]:
    return [{"name": n, "in": "query", "schema": _QUERY[n]} for n in names]


def _path_params(*names: str) -> list[Obj]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def _list_name(r: Resource) -> str:
    return f"{schema_name(r.kind)}List"


def _list_component(r: Resource) -> Obj:
    return {
        "description": f"A list of {r.kind} objects.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [{"$ref": _ref(LIST_META)}]},
            "items": {"type": "array", "items": {"$ref": _ref(schema_name(r.kind))}},
        },
        "required": ["items"],
    }


def _links(r: Resource, item_ops: dict[str, str]) -> Obj:
    """OpenAPI links from a create to the operations on the created object (schemathesis's
    stateful phase follows them; kubectl ignores them)."""
    parameters = {"name": "$response.body#/metadata/name"}
    if r.namespaced:
        parameters["namespace"] = "$request.path.namespace"
    return {
        op_id[0].upper() + op_id[1:]: {"operationId": op_id, "parameters": parameters}
        for op_id in item_ops.values()
    }


def _operation(r: Resource, action: str, op_id: str, body: tuple[str, ...] = ()) -> Obj:
    described = r.kind in schema.TYPES
    ref: Obj = {"$ref": _ref(schema_name(r.kind))} if described else {"type": "object"}
    if action == "list" and described:
        ref = {"$ref": _ref(_list_name(r))}
    if action == "delete":  # a Status once gone, the object while finalizers or a grace run
        ref = {"anyOf": [{"$ref": _ref(STATUS)}, ref]}
    ok = {"description": "OK", "content": {"application/json": {"schema": ref}}}
    op: Obj = {
        "operationId": op_id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "responses": {"200": ok, **_ERRORS},
    }
    if action == "delete":
        op["responses"]["202"] = {**ok, "description": "Accepted"}
    if action in ("post", "patch"):  # a server-side apply patch may create
        op["responses"]["201"] = {**ok, "description": "Created"}
    if action in ("post", "put", "patch"):
        op["parameters"] = _params("dryRun", "fieldManager", "fieldValidation")
        if action == "patch":
            op["parameters"] += _params("force")
        op["requestBody"] = {
            "content": {
                media: {"schema": ref if action != "patch" else {"type": "object"}}
                for media in body
            },
            "required": True,
        }
    elif action == "list":
        op["parameters"] = _params(
            "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion"
        )
    elif action == "get":
        op["parameters"] = _params("resourceVersion")
    elif action == "delete":
        op["parameters"] = _params(
            "dryRun", "gracePeriodSeconds", "propagationPolicy", "orphanDependents"
        )
    return op


def _paths(r: Resource) -> dict[str, Obj]:
    ns = "/namespaces/{namespace}" if r.namespaced else ""
    collection = f"{r.path_prefix}{ns}/{r.name}"
    item = collection + "/{name}"
    kind = r.kind
    # (path, method, verb, operation): only the verbs the resource allows are described
    operations = [
        (collection, "get", "list", _operation(r, "list", f"list{kind}")),
        (collection, "post", "create", _operation(r, "post", f"create{kind}", _JSON)),
        (item, "get", "get", _operation(r, "get", f"read{kind}")),
        (item, "put", "update", _operation(r, "put", f"replace{kind}", _JSON)),
        (item, "patch", "patch", _operation(r, "patch", f"patch{kind}", _PATCH_TYPES)),
        (item, "delete", "delete", _operation(r, "delete", f"delete{kind}")),
    ]
    paths: dict[str, Obj] = {}
    for path, method, verb, operation in operations:
        if verb in r.verbs:
            paths.setdefault(path, {})[method] = operation
    if r.namespaced and "list" in r.verbs:
        paths[f"{r.path_prefix}/{r.name}"] = {
            "get": _operation(r, "list", f"list{kind}ForAllNamespaces")
        }
    if "status" in r.subresources:
        paths[item + "/status"] = {
            "get": _operation(r, "get", f"read{kind}Status"),
            "put": _operation(r, "put", f"replace{kind}Status", _JSON),
            "patch": _operation(r, "patch", f"patch{kind}Status", _PATCH_TYPES),
        }
    namespace = ("namespace",) if r.namespaced else ()
    for path, ops in paths.items():
        names = (*namespace, "name") if path.startswith(item) else namespace
        if names and path != f"{r.path_prefix}/{r.name}":
            ops["parameters"] = _path_params(*names)
    create = paths.get(collection, {}).get("post")
    item_ops = {
        f"{m}{p[len(item) :]}": op["operationId"]
        for p, ops in paths.items()
        if p.startswith(item)
        for m, op in ops.items()
        if m != "parameters"
    }
    if create is not None and item_ops:  # a review's create leaves nothing to link to
        for code in ("200", "201"):
            create["responses"][code]["links"] = _links(r, item_ops)
    return paths


def build_v3_document(group: str, version: str) -> Obj:
    """The OpenAPI v3 document of one group-version (`""`, `"v1"` for the core group)."""
    resources = [r for r in DISCOVERED if r.group == group and r.version == version]
    paths: dict[str, Obj] = {}
    for r in resources:
        paths.update(_paths(r))
    types = schema.referenced_types([r.kind for r in resources if r.kind in schema.TYPES])
    schemas = {schema_name(t): _component(t) for t in types}
    schemas.update(_META_COMPONENTS)
    schemas.update({_list_name(r): _list_component(r) for r in resources if r.kind in schema.TYPES})
    used = {schema.element_type(fl.type) for t in types for fl in schema.TYPES[t].fields.values()}
    for primitive, (name, body) in _NAMED_PRIMITIVES.items():
        if primitive in used:
            schemas[name] = body
    title = f"{group}/{version}" if group else version
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": title},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _url_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@functools.cache
def v3_document(group: str, version: str) -> tuple[bytes, str]:
    """The serialized document and its hash (upper-case SHA-512 hex, as Kubernetes uses)."""
    body = json.dumps(build_v3_document(group, version), separators=(",", ":")).encode()
    return body, hashlib.sha512(body).hexdigest().upper()


def v3_root() -> Obj:
    """`GET /openapi/v3`: where each group-version's document is, with its hash."""
    group_versions = sorted({(r.group, r.version) for r in DISCOVERED})
    return {
        "paths": {
            _url_path(g, v): {
                "serverRelativeURL": f"/openapi/v3/{_url_path(g, v)}?hash={v3_document(g, v)[1]}"
            }
            for g, v in group_versions
        }
    }
