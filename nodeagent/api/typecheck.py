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

import binascii
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from nodeagent.api.errors import FieldError, GoValue, Invalid
from nodeagent.api.fielderrors import Errors, sorted_errors
from nodeagent.api.resources import BY_KIND
from nodeagent.api.schema import KIND_TYPES, TYPES
from nodeagent.api.schemabase import F, Field


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_BASE64_CHARS = re.compile(r"[^A-Za-z0-9+/=]")
# a bytes field's value may be a secret: never echoed in an error
REDACTED = GoValue('"<secret contents redacted>"')


def base64_problem(value: Any) -> str | None:
    """Why `value` is not Go's []byte in JSON (standard base64 with padding; Go's decoder
    skips CR and LF), or None when it is."""
    if not isinstance(value, str):
        return "must be a base64-encoded string"
    text = value.replace("\r", "").replace("\n", "")
    bad = _BASE64_CHARS.search(text)
    if bad is not None:
        return f"illegal base64 data at input byte {bad.start()}"
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return f"illegal base64 data at input byte {len(text) - len(text) % 4}"
    return None


# primitive -> (accepts, the words after "must be")
_PRIMITIVES: Mapping[str, tuple[Callable[[Any], bool], str]] = {
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


_META_ONLY = "<meta only>"  # the checker of a kind the schema does not describe


def type_of_kind(kind: Any) -> str:
    """The schema type of a kind (`Pod` -> `Pod`); a kind the schema does not describe gets
    a checker of apiVersion, kind and metadata only."""
    return next((n for (_, _, k), n in KIND_TYPES.items() if k == kind), _META_ONLY)


def type_errors(obj: Any, type_name: str | None = None) -> list[FieldError]:
    """Every field of `obj` whose JSON type is not the one its schema says, ordered by path.
    `type_name` defaults to the type of obj's own kind (a manifest's kind says what it is; a
    request is checked as the resource its URL names: check_types)."""
    errs = Errors()
    if not isinstance(obj, dict):
        errs.wrong_type_named("<root>", obj, "an object")
        return errs.items
    _checker(type_name or type_of_kind(obj.get("kind")))(obj, "", errs)
    return sorted_errors(errs.items)


# A checker looks at one value at one path. The schema is compiled into checkers once (every
# write goes through them): paths are only built on the way into objects and lists, and
# primitive fields are checked in their struct's loop, with a path only for an error.
Checker = Callable[[Any, str, Errors], None]


@functools.cache
def _checker(type_name: str) -> Checker:
    if type_name.startswith("[]"):
        return _list_checker(type_name[2:])
    if type_name.startswith("map[string]"):
        return _map_checker(type_name[len("map[string]") :])
    if type_name == "bytes":
        return _check_bytes
    if type_name in _PRIMITIVES:
        accepts, words = _PRIMITIVES[type_name]

        def check_primitive(value: Any, path: str, errs: Errors) -> None:
            if not accepts(value):
                errs.wrong_type_named(path, value, words)

        return check_primitive
    if type_name == _META_ONLY:
        return _struct_checker(
            {"apiVersion": F("string"), "kind": F("string"), "metadata": F("ObjectMeta")}
        )
    fields = _fields(type_name)
    if fields is None:
        return lambda value, path, errs: None  # a type only named, never described
    return _struct_checker(fields)


def _check_bytes(value: Any, path: str, errs: Errors) -> None:
    problem = base64_problem(value)
    if problem is not None:
        errs.invalid(path, REDACTED, problem)


def _list_checker(item_type: str) -> Checker:
    words = _words(item_type)

    def check_list(value: Any, path: str, errs: Errors) -> None:
        if type(value) is not list:
            errs.wrong_type_named(path, value, "a list")
            return
        check_item = _checker(item_type)
        for i, item in enumerate(value):
            if item is None:  # Go would decode it as an empty value; no code here expects it
                errs.wrong_type_named(f"{path}[{i}]", item, words)
            else:
                check_item(item, f"{path}[{i}]", errs)

    return check_list


def _map_checker(item_type: str) -> Checker:
    def check_map(value: Any, path: str, errs: Errors) -> None:
        if type(value) is not dict:
            errs.wrong_type_named(path, value, "an object")
            return
        check_item = _checker(item_type)
        for key, item in value.items():
            if item is not None:
                check_item(item, f"{path}[{key}]", errs)

    return check_map


def _struct_checker(fields: Mapping[str, Field]) -> Checker:
    primitives = {n: _PRIMITIVES[f.type] for n, f in fields.items() if f.type in _PRIMITIVES}
    nested = {n: f.type for n, f in fields.items() if f.type not in _PRIMITIVES}

    def check_struct(value: Any, path: str, errs: Errors) -> None:
        if type(value) is not dict:
            errs.wrong_type_named(path, value, "an object")
            return
        prefix = f"{path}." if path else ""
        for key, item in value.items():
            if item is None:
                continue
            primitive = primitives.get(key)
            if primitive is not None:
                if not primitive[0](item):
                    errs.wrong_type_named(prefix + key, item, primitive[1])
                continue
            inner = nested.get(key)
            if inner is not None:
                _checker(inner)(item, prefix + key, errs)

    return check_struct


def _words(type_name: str) -> str:
    if type_name in _PRIMITIVES:
        return _PRIMITIVES[type_name][1]
    if type_name.startswith("[]"):
        return "a list"
    return "an object"


def check_types(obj: Any, *, kind: str, name: str = "") -> None:
    """Raise Invalid (422) naming every wrongly typed field of `obj`, a body for the served
    `kind` (whatever kind the body itself claims), as
    `Pod "p" is invalid: [spec: Invalid value: "x": must be an object, ...]`."""
    errors = type_errors(obj, type_of_kind(kind))
    if not errors:
        return
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
