"""The JSON type of every field a body sets, checked against nodeagent.api.schema before any
other code reads the body. Pure.

kube-apiserver decodes a body into Go structs, so a field of the wrong type never reaches its
defaulting or validation code: the decoder refuses the body. This module is that gate for
nodeagent's dict-shaped objects: every field the schema knows is checked (null is absent, as
in Go), all errors at once, each with its field path and the API server's wording
(`metadata: Invalid value: "x": must be an object`). Fields the schema does not know are left
to `fieldValidation`; a free-form `object` field need only be an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodeagent.api.errors import FieldError, Invalid
from nodeagent.api.fielderrors import Errors, sorted_errors
from nodeagent.api.resources import BY_KIND
from nodeagent.api.schema import KIND_TYPES, TYPES, F, Field

Obj = dict[str, Any]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# primitive -> (accepts, the words after "must be")
_PRIMITIVES: Mapping[str, tuple[Any, str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "time": (lambda v: isinstance(v, str), "a string"),
    "integer": (_is_int, "an integer"),
    "number": (_is_number, "a number"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "quantity": (lambda v: isinstance(v, str) or _is_number(v), "a string or a number"),
    "int-or-string": (lambda v: isinstance(v, str) or _is_int(v), "an integer or a string"),
    "object": (lambda v: isinstance(v, dict), "an object"),
}

# The option bodies (meta/v1), which are not served kinds: checked with the same walk.
OPTION_TYPES: Mapping[str, Mapping[str, Field]] = {
    "DeleteOptions": {
        "kind": F("string"),
        "apiVersion": F("string"),
        "gracePeriodSeconds": F("integer"),
        "preconditions": F("Preconditions"),
        "orphanDependents": F("boolean"),
        "propagationPolicy": F("string"),
        "dryRun": F("[]string"),
        "ignoreStoreReadErrorWithClusterBreakingPotential": F("boolean"),
    },
    "Preconditions": {"uid": F("string"), "resourceVersion": F("string")},
}


def _fields(type_name: str) -> Mapping[str, Field] | None:
    if type_name in TYPES:
        return TYPES[type_name].fields
    return OPTION_TYPES.get(type_name)


def type_errors(obj: Any, type_name: str | None = None) -> list[FieldError]:
    """Every field of `obj` whose JSON type is not the one its schema says, ordered by path.
    `type_name` defaults to the type of obj's kind; a kind the schema does not describe has
    only its apiVersion, kind and metadata checked."""
    errs = Errors()
    if not isinstance(obj, dict):
        errs.wrong_type_named("<root>", obj, "an object")
        return errs.items
    if type_name is None:
        kind = obj.get("kind")
        type_name = next((n for (_, _, k), n in KIND_TYPES.items() if k == kind), None)
    if type_name is None:
        _struct(
            {"apiVersion": F("string"), "kind": F("string"), "metadata": F("ObjectMeta")},
            obj,
            "",
            errs,
        )
    else:
        _walk(type_name, obj, "", errs)
    return sorted_errors(errs.items)


def _walk(type_name: str, value: Any, path: str, errs: Errors) -> None:
    if type_name.startswith("[]"):
        if not isinstance(value, list):
            errs.wrong_type_named(path, value, "a list")
            return
        item_type = type_name[2:]
        for i, item in enumerate(value):
            if item is None:  # Go would decode it as an empty value; no code here expects it
                errs.wrong_type_named(f"{path}[{i}]", item, _words(item_type))
            else:
                _walk(item_type, item, f"{path}[{i}]", errs)
        return
    if type_name.startswith("map[string]"):
        if not isinstance(value, dict):
            errs.wrong_type_named(path, value, "an object")
            return
        item_type = type_name[len("map[string]") :]
        for key, item in value.items():
            if item is not None:
                _walk(item_type, item, f"{path}[{key}]", errs)
        return
    primitive = _PRIMITIVES.get(type_name)
    if primitive is not None:
        accepts, words = primitive
        if not accepts(value):
            errs.wrong_type_named(path, value, words)
        return
    fields = _fields(type_name)
    if fields is None:
        return  # a type only named, never described: anything goes
    if not isinstance(value, dict):
        errs.wrong_type_named(path, value, "an object")
        return
    _struct(fields, value, path, errs)


def _struct(fields: Mapping[str, Field], value: Obj, path: str, errs: Errors) -> None:
    for key, item in value.items():
        known = fields.get(key)
        if known is not None and item is not None:
            _walk(known.type, item, f"{path}.{key}" if path else key, errs)


def _words(type_name: str) -> str:
    if type_name in _PRIMITIVES:
        return _PRIMITIVES[type_name][1]
    if type_name.startswith("[]"):
        return "a list"
    return "an object"


def check_types(obj: Any, *, name: str = "") -> None:
    """Raise Invalid (422) naming every wrongly typed field of `obj`, a served kind's object,
    as `Pod "p" is invalid: [spec: Invalid value: "x": must be an object, ...]`."""
    errors = type_errors(obj)
    if not errors:
        return
    kind = str(obj.get("kind") or "") if isinstance(obj, dict) else ""
    resource = BY_KIND.get(kind)
    group = resource.group if resource is not None else ""
    if not name and isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
        given = obj["metadata"].get("name")
        name = given if isinstance(given, str) else ""
    text = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    qualified = f"{kind}.{group}" if group else kind
    raise Invalid(
        f'{qualified} "{name}" is invalid: {text}', kind=kind, name=name, group=group, causes=errors
    )
