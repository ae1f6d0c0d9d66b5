"""Collecting FieldErrors while walking an untrusted JSON object: the constructors the API
server uses (field.Required, Invalid, NotSupported, ...), typed reads that report a wrong
type instead of raising, and the rendering of composite bad values. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import FieldError, GoValue

# Python type -> the word used when a field holds the wrong JSON type.
_TYPE_NAMES: dict[type, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    bool: "a boolean",
}


def shown_string_map(value: Any) -> GoValue:
    """A map[string]string bad value as the API server prints it: JSON with sorted keys
    (field.Error renders composite values as JSON), `null` when absent."""
    if not isinstance(value, dict):
        return GoValue("null")
    return GoValue(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def shown_label_selector(value: Any) -> GoValue:
    """A metav1.LabelSelector bad value: its JSON in struct field order, empty fields omitted
    (`{"matchLabels":{"a":"b"},"matchExpressions":[...]}`, `{}`, `null`)."""
    if not isinstance(value, dict):
        return GoValue("null")
    shown: dict[str, Any] = {}
    labels = value.get("matchLabels")
    if labels:
        shown["matchLabels"] = dict(sorted(labels.items())) if isinstance(labels, dict) else labels
    exprs = value.get("matchExpressions")
    if exprs:
        shown["matchExpressions"] = (
            [
                {k: e[k] for k in ("key", "operator", "values") if e.get(k)}
                if isinstance(e, dict)
                else e
                for e in exprs
            ]
            if isinstance(exprs, list)
            else exprs
        )
    return GoValue(json.dumps(shown, separators=(",", ":"), ensure_ascii=False))


def shown_struct(value: Obj, fields: Sequence[str]) -> GoValue:
    """A Go struct bad value: JSON of the given fields in struct order, empty ones omitted."""
    shown = {f: value[f] for f in fields if value.get(f) not in (None, "", [], {})}
    return GoValue(json.dumps(shown, separators=(",", ":"), ensure_ascii=False))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quoted_list(values: Iterable[str]) -> str:
    return ", ".join(_quote(v) for v in values)


class Errors:
    """An ordered list of FieldErrors, added to through the API server's constructors."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def required(self, path: str, detail: str = "") -> None:
        self.items.append(
            FieldError(
                field=path, type="Required value", detail=detail, reason="FieldValueRequired"
            )
        )

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.items.append(FieldError(field=path, type="Invalid value", value=value, detail=detail))

    def not_supported(self, path: str, value: Any, supported: Sequence[str]) -> None:
        self.items.append(
            FieldError(
                field=path,
                type="Unsupported value",
                value=value,
                detail=f"supported values: {quoted_list(supported)}",
                reason="FieldValueNotSupported",
            )
        )

    def duplicate(self, path: str, value: Any) -> None:
        self.items.append(
            FieldError(
                field=path, type="Duplicate value", value=value, reason="FieldValueDuplicate"
            )
        )

    def not_found(self, path: str, value: Any) -> None:
        self.items.append(
            FieldError(field=path, type="Not found", value=value, reason="FieldValueNotFound")
        )

    def forbidden(self, path: str, detail: str) -> None:
        self.items.append(
            FieldError(field=path, type="Forbidden", detail=detail, reason="FieldValueForbidden")
        )

    def wrong_type(self, path: str, value: Any, want: type) -> None:
        self.wrong_type_named(path, value, _TYPE_NAMES.get(want, want.__name__))

    def wrong_type_named(self, path: str, value: Any, want: str) -> None:
        """`path: Invalid value: <value>: must be <want>` ("an object", "a string", ...)."""
        self.invalid(path, _shown(value), f"must be {want}")

    def nonnegative(self, path: str, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            self.invalid(path, value, "must be greater than or equal to 0")

    # Typed reads: a field of the wrong type is reported once and read as absent.
    def get_map(self, obj: Obj, key: str, path: str) -> Obj:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.wrong_type(path, value, dict)
            return {}
        return value

    def get_list(self, obj: Obj, key: str, path: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.wrong_type(path, value, list)
            return []
        return value

    def get_maps(self, obj: Obj, key: str, path: str) -> list[tuple[str, Obj]]:
        """A list of objects as (indexed path, item); non-object items are reported."""
        out: list[tuple[str, Obj]] = []
        for i, item in enumerate(self.get_list(obj, key, path)):
            if isinstance(item, dict):
                out.append((f"{path}[{i}]", item))
            else:
                self.wrong_type(f"{path}[{i}]", item, dict)
        return out

    def get_str(self, obj: Obj, key: str, path: str) -> str:
        value = obj.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.wrong_type(path, value, str)
            return ""
        return value

    def get_int(self, obj: Obj, key: str, path: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong_type(path, value, int)
            return None
        return value

    def get_bool(self, obj: Obj, key: str, path: str) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.wrong_type(path, value, bool)
            return False
        return value

    def get_strings(self, obj: Obj, key: str, path: str) -> list[str]:
        out: list[str] = []
        for i, item in enumerate(self.get_list(obj, key, path)):
            if isinstance(item, str):
                out.append(item)
            else:
                self.wrong_type(f"{path}[{i}]", item, str)
        return out


def _shown(value: Any) -> Any:
    """A bad value small enough to print (objects and lists by their type)."""
    if isinstance(value, dict):
        return GoValue("object")
    if isinstance(value, list):
        return GoValue("list")
    return value


_SEGMENT = re.compile(r"\[(\d+)\]|\[([^\]]*)\]|([^.\[]+)")


def path_key(path: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key for field paths: segments in order, list indices compared as numbers."""
    key: list[tuple[int, int, str]] = []
    for index, mapkey, name in _SEGMENT.findall(path):
        if index:
            key.append((1, int(index), ""))
        else:
            key.append((0, 0, name or mapkey))
    return tuple(key)


def sorted_errors(errors: Iterable[FieldError]) -> list[FieldError]:
    """Errors ordered by path (stable: several errors at one path keep their order)."""
    return sorted(errors, key=lambda e: path_key(e.field))
