"""Patches as the API server applies them: JSON merge, strategic merge, JSON patch, apply.

Pure: `apply_patch(original, body, content_type, kind=...)` returns a new object and never
touches `original`. Strategic merge patch follows apimachinery's strategicpatch package: list
merge keys come from the Go struct tags (a table below, rules as data), and the directives
`$patch`, `$setElementOrder/`, `$retainKeys` and `$deleteFromPrimitiveList/` are honoured.
Server-side apply is a strategic merge of the applied fields (no managedFields, no conflicts).

Bounded as kube-apiserver bounds patches (nodeagent.api.limits): at most 10,000 JSON-patch
operations (413), `copy` operations adding at most 3 MiB (422), a patched object no larger
than a request body may be (413); bodies through the bounded loaders of nodeagent.api.decode.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from nodeagent.api import jsontext, limits
from nodeagent.api.bodies import Obj
from nodeagent.api.decode import DecodeError, load_json, load_yaml
from nodeagent.api.errors import (
    BadRequest,
    Invalid,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)
from nodeagent.api.typecheck import check_types

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# List fields with patchStrategy "merge": field name -> patchMergeKey (k8s.io/api struct tags).
# Lists not named here (tolerations, taints, args, command, envFrom, ...) are replaced whole.
MERGE_KEYS: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "schedulingGates": "name",
    "topologySpreadConstraints": "topologyKey",
    "conditions": "type",
    "addresses": "type",
    "podIPs": "ip",
    "hostIPs": "ip",
    "ownerReferences": "uid",
}
# Lists of scalars with patchStrategy "merge": merged as a set union, order kept.
MERGE_PRIMITIVE_LISTS: frozenset[str] = frozenset({"finalizers", "podCIDRs"})
# Lists whose items also carry patchStrategy "retainKeys" (a volume's one source).
RETAIN_KEYS_LISTS: frozenset[str] = frozenset({"volumes"})


def patch_strategy(field_name: str) -> tuple[str, str] | None:
    """(patchStrategy, patchMergeKey) of a list field as the Go struct tags declare it, or
    None for lists that are replaced whole. Published in the OpenAPI documents so that
    kubectl's client-side apply computes the same patches the server applies."""
    if field_name in MERGE_KEYS:
        strategy = "merge,retainKeys" if field_name in RETAIN_KEYS_LISTS else "merge"
        return strategy, MERGE_KEYS[field_name]
    if field_name in MERGE_PRIMITIVE_LISTS:
        return "merge", ""
    return None


DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


def apply_patch(original: Obj, body: bytes, content_type: str, *, kind: str) -> Obj:
    """The object after applying `body` (of media type `content_type`) to `original`.

    `original` is {} when a server-side apply creates the object. Raises BadRequest for a
    body that does not decode, Invalid for a patch that cannot apply (a failed JSON-patch
    `test`, a missing path), UnsupportedMediaType for any other content type.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    apply = _APPLIERS.get(media)
    if apply is None:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(_APPLIERS)}"
        )
    result = apply(jsontext.clone(original), body, kind)
    if not isinstance(result, dict):
        raise BadRequest("the patch did not produce an object")
    meta = original.get("metadata")
    name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    check_types(result, kind=kind, name=name)
    size = len(jsontext.dumpb(result))
    if size > limits.MAX_BODY_BYTES:  # what a create or update could not have sent
        raise RequestEntityTooLarge(
            f"the patched object is {size} bytes: the limit is {limits.MAX_BODY_BYTES}"
        )
    return result


# ---------------------------------------------------------------- decoding


def _decode_json(body: bytes) -> Any:
    try:
        return load_json(body, source="patch")
    except DecodeError as exc:
        raise BadRequest(f"error decoding patch: {exc}") from exc


def _decode_object(body: bytes, what: str) -> Obj:
    patch = _decode_json(body)
    if not isinstance(patch, dict):
        raise BadRequest(f"{what} must be a JSON object, got {type(patch).__name__}")
    return patch


# ---------------------------------------------------------------- JSON merge patch (RFC 7386)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return jsontext.clone(patch)
    result: Obj = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _apply_merge(original: Obj, body: bytes, kind: str) -> Obj:
    patch = _decode_object(body, "a merge patch")
    result = merge_patch(original, patch)
    assert isinstance(result, dict)
    return result


# ---------------------------------------------------------------- strategic merge patch


def strategic_merge(original: Obj, patch: Obj) -> Obj:
    """Kubernetes strategic merge of `patch` into `original` (both maps); a new map."""
    return _merge_map(jsontext.clone(original), patch)


def _merge_map(original: Obj, patch: Obj) -> Obj:
    directive = patch.get(DIRECTIVE)
    if directive == "replace":
        replaced: Obj = _strip_directives(patch)
        return replaced
    if directive not in (None, "merge", "delete"):
        raise BadRequest(f"unknown patch type: {directive!r} in map: {json.dumps(patch)}")

    retain = patch.get(RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list):
            raise BadRequest(f"invalid patch: {RETAIN_KEYS} must be a list, got {retain!r}")
        kept = {_hashable(k) for k in retain}
        for key in list(original):
            if key not in kept:
                del original[key]

    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith(SET_ELEMENT_ORDER):
            if not isinstance(value, list):
                raise BadRequest(f"invalid patch: {key} must be a list")
            orders[key[len(SET_ELEMENT_ORDER) :]] = value
        elif key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            field = key[len(DELETE_FROM_PRIMITIVE_LIST) :]
            if not isinstance(value, list):
                raise BadRequest(f"invalid patch: {key} must be a list")
            current = original.get(field)
            if isinstance(current, list):
                gone = {_hashable(v) for v in value}
                original[field] = [item for item in current if _hashable(item) not in gone]

    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key)
        if isinstance(value, dict):
            if value.get(DIRECTIVE) == "delete":
                original.pop(key, None)
                continue
            base = current if isinstance(current, dict) else {}
            original[key] = _merge_map(base, value)
        elif isinstance(value, list):
            base_list = current if isinstance(current, list) else []
            original[key] = _merge_list(key, base_list, value, orders.get(key))
        else:
            original[key] = value

    for field, order in orders.items():
        if field not in patch and isinstance(original.get(field), list):
            original[field] = _reorder(field, original[field], order, original[field])
    return original


def _merge_list(field: str, original: list[Any], patch: list[Any], order: list[Any] | None) -> Any:
    merge_key = MERGE_KEYS.get(field)
    if merge_key is not None and all(isinstance(item, dict) for item in patch):
        merged = _merge_keyed_list(field, merge_key, original, patch)
    else:
        values = [item for item in patch if not _is_directive_only(item)]
        if field not in MERGE_PRIMITIVE_LISTS or len(values) < len(patch):
            return _strip_directives(values)  # replaced whole (also on `$patch: replace`)
        have = {_hashable(item) for item in original}
        merged = list(original) + [item for item in values if _hashable(item) not in have]
    if order is not None:
        merged = _reorder(field, merged, order, original)
    return merged


def _is_directive_only(item: Any) -> bool:
    return isinstance(item, dict) and bool(item) and all(k.startswith("$") for k in item)


def _key_of(field: str, merge_key: str, item: Obj) -> Any:
    if merge_key not in item:
        raise BadRequest(
            f"map: {json.dumps(item, sort_keys=True)} does not contain declared merge key: "
            f"{merge_key} (in {field})"
        )
    return item[merge_key]


def _hashable(value: Any) -> Any:
    """A dict key standing for `value` under ==: the scalar itself, else its JSON text. Lists
    are matched through dicts of these, never by scanning (a patch of 100,000 list items
    would otherwise cost 10^10 comparisons)."""
    if value is None or isinstance(value, str | int | float):
        return value
    return ("\x00json", jsontext.dumps(value))


_GONE = object()


def _merge_keyed_list(
    field: str, merge_key: str, original: list[Any], patch: list[Obj]
) -> list[Any]:
    if any(item.get(DIRECTIVE) == "replace" for item in patch):
        return [_strip_directives(item) for item in patch if DIRECTIVE not in item]
    result = list(original)
    where: dict[Any, list[int]] = {}  # merge key -> positions in result, in order
    for i, old in enumerate(result):
        if isinstance(old, dict):
            where.setdefault(_hashable(old.get(merge_key)), []).append(i)
    for item in patch:
        key = _hashable(_key_of(field, merge_key, item))
        if item.get(DIRECTIVE) == "delete":
            for i in where.pop(key, []):
                result[i] = _GONE
        elif key in where:
            first = where[key][0]
            result[first] = _merge_map(result[first], item)
        else:
            where[key] = [len(result)]
            result.append(_merge_map({}, item))
    return [item for item in result if item is not _GONE]


def _reorder(field: str, merged: list[Any], order: list[Any], original: list[Any]) -> list[Any]:
    """$setElementOrder: items named in `order` take that order; items only on the server
    keep their live order and are interleaved as apimachinery's mergeSortedSlice does."""
    merge_key = MERGE_KEYS.get(field)

    def ident(item: Any) -> Any:
        return _hashable(item.get(merge_key) if merge_key and isinstance(item, dict) else item)

    wanted: dict[Any, int] = {}
    for i, o in enumerate(order):
        wanted.setdefault(ident(o), i)
    live: dict[Any, int] = {}
    for i, o in enumerate(original):
        live.setdefault(ident(o), i)
    in_patch = sorted(
        (item for item in merged if ident(item) in wanted), key=lambda item: wanted[ident(item)]
    )
    server_only = [item for item in merged if ident(item) not in wanted]

    def live_index(item: Any) -> int:
        return live.get(ident(item), -1)

    result: list[Any] = []
    taken = 0
    for item in server_only:
        mine = live_index(item)
        while taken < len(in_patch) and live_index(in_patch[taken]) <= mine:
            result.append(in_patch[taken])
            taken += 1
        result.append(item)
    result.extend(in_patch[taken:])
    return result


def _strip_directives(value: Any) -> Any:
    """Drop every `$...` key (label and annotation keys can never start with `$`)."""
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _apply_strategic(original: Obj, body: bytes, kind: str) -> Obj:
    patch = _decode_object(body, "a strategic merge patch")
    return _merge_map(original, patch)


# ---------------------------------------------------------------- server-side apply


def decode_applied(body: bytes) -> Any:
    """The applied configuration of an apply patch, through the bounded YAML loader."""
    try:
        return load_yaml(body.decode("utf-8"), source="patch")
    except (UnicodeDecodeError, DecodeError) as exc:
        raise BadRequest(f"error decoding YAML: {exc}") from exc


def _apply_apply(original: Obj, body: bytes, kind: str) -> Obj:
    applied = decode_applied(body)
    if not isinstance(applied, dict):
        raise BadRequest("the applied configuration must be an object")
    if applied.get("kind") != kind:
        raise BadRequest(
            f"the kind in the request body ({applied.get('kind')!r}) does not match the "
            f"kind of the resource ({kind!r})"
        )
    if original and original.get("apiVersion") not in (None, applied.get("apiVersion")):
        raise BadRequest(
            f"the API version in the data ({applied.get('apiVersion')}) does not match the "
            f"expected API version ({original.get('apiVersion')})"
        )
    return _merge_map(original, applied)


# ---------------------------------------------------------------- JSON patch (RFC 6902)


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise BadRequest(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part, path)
    return node


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise Invalid(f"jsonpatch: path {path!r} does not exist: missing key {part!r}")
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, path, allow_end=False)]
    raise Invalid(f"jsonpatch: path {path!r} does not exist")


def _index(node: list[Any], part: str, path: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(node)
    if not part.isdigit() or (len(part) > 1 and part.startswith("0")):
        raise Invalid(f"jsonpatch: invalid array index {part!r} in {path!r}")
    index = int(part)
    limit = len(node) if allow_end else len(node) - 1
    if index > limit:
        raise Invalid(f"jsonpatch: array index {index} out of bounds in {path!r}")
    return index


def _get(doc: Any, path: str) -> Any:
    node = doc
    for part in _pointer(path):
        node = _child(node, part, path)
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    if isinstance(parent, dict):
        parent[parts[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], path, allow_end=True), value)
    else:
        raise Invalid(f"jsonpatch: cannot add at {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise Invalid("jsonpatch: cannot remove the whole document")
    parent = _parent(doc, parts, path)
    if isinstance(parent, dict):
        if parts[-1] not in parent:
            raise Invalid(f"jsonpatch: cannot remove {path!r}: it does not exist")
        del parent[parts[-1]]
    elif isinstance(parent, list):
        del parent[_index(parent, parts[-1], path, allow_end=False)]
    else:
        raise Invalid(f"jsonpatch: cannot remove {path!r}")
    return doc


class _CopyBudget:
    """The bytes `copy` operations have added so far, against MAX_JSON_PATCH_COPY_BYTES
    (json-patch's AccumulatedCopySizeLimit, which kube-apiserver sets to 3 MiB): each copy is
    measured before it is made, so doubling a value 25 times stops at the limit."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, value: Any) -> None:
        self.used += len(jsontext.dumpb(value))
        if self.used > limits.MAX_JSON_PATCH_COPY_BYTES:
            raise Invalid(
                "Unable to complete the copy, the accumulated size increase of copy is "
                f"{self.used}, exceeding the limit {limits.MAX_JSON_PATCH_COPY_BYTES}"
            )


def _operation(doc: Any, op: Obj, budget: _CopyBudget) -> Any:
    kind = op.get("op")
    path = op.get("path")
    if not isinstance(path, str):
        raise BadRequest(f"jsonpatch: operation {op!r} has no path")

    def need(field: str) -> Any:
        if field not in op:
            raise BadRequest(f"jsonpatch: {kind} operation is missing {field!r}")
        return op[field]

    if kind == "add":
        return _add(doc, path, jsontext.clone(need("value")))
    if kind == "remove":
        return _remove(doc, path)
    if kind == "replace":
        _get(doc, path)
        if not _pointer(path):
            return jsontext.clone(need("value"))
        return _add(_remove(doc, path), path, jsontext.clone(need("value")))
    if kind == "move":
        source = need("from")
        value = _get(doc, source)
        return _add(_remove(doc, source), path, value)
    if kind == "copy":
        value = _get(doc, need("from"))
        budget.take(value)
        return _add(doc, path, jsontext.clone(value))
    if kind == "test":
        if _get(doc, path) != need("value"):
            raise Invalid(f"jsonpatch: test operation failed at {path!r}")
        return doc
    raise BadRequest(f"jsonpatch: unknown operation {kind!r}")


def _apply_json_patch(original: Obj, body: bytes, kind: str) -> Obj:
    ops = _decode_json(body)
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise BadRequest("a JSON patch must be a list of operation objects")
    if len(ops) > limits.MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(
            "The allowed maximum operations in a JSON patch is "
            f"{limits.MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}"
        )
    doc: Any = original
    budget = _CopyBudget()
    for op in ops:
        doc = _operation(doc, op, budget)
    if not isinstance(doc, dict):
        raise Invalid("jsonpatch: the result is not an object")
    return doc


_APPLIERS: dict[str, Callable[[Obj, bytes, str], Obj]] = {
    JSON_PATCH: _apply_json_patch,
    MERGE_PATCH: _apply_merge,
    APPLY_PATCH: _apply_apply,
    STRATEGIC_MERGE_PATCH: _apply_strategic,
}

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_KEYS",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "apply_patch",
    "merge_patch",
    "patch_strategy",
    "strategic_merge",
]
