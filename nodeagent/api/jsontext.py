"""JSON values on the server's hot paths: their text (store rows, responses, watch lines) and
their deep copies (every write copies the object a few times).

PURE. orjson where it can (3-10x the standard library), the standard library where orjson
refuses: an integer beyond 64 bits or a non-string key when encoding, a lone surrogate when
decoding. Output is compact (no spaces), keys in insertion order, like
`json.dumps(obj, separators=(",", ":"))`, except that non-ASCII text is written as UTF-8
rather than as \\u escapes and NaN/Infinity as null (both valid JSON; kubectl reads either).
Decoding turns integers beyond 64 bits into floats, as kube-apiserver's decoder does.
`clone` is copy.deepcopy for JSON values (dicts, lists, scalars) at a tenth of its cost or
less; anything else inside (a date from YAML) is kept, by copy.deepcopy.
"""

from __future__ import annotations

import copy
import json
from typing import Any, TypeVar, cast

import orjson

from nodeagent.api.limits import json_too_deep


def dumpb(obj: Any) -> bytes:
    """Compact JSON bytes of `obj`."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def dumps(obj: Any) -> str:
    """Compact JSON text of `obj`."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        return json.dumps(obj, separators=(",", ":"))


_SCALARS = frozenset({str, int, float, bool, type(None)})


T = TypeVar("T")


_CLONE_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def clone(value: T) -> T:
    """A deep copy of a JSON value; dicts and lists are new all the way down (a tuple comes
    back a list, as JSON has only arrays). Through orjson's text when it takes the value,
    else (a date from YAML, a key that is not a string) by a walk that keeps such values."""
    if type(value) in _SCALARS:
        return value
    try:
        return cast(T, orjson.loads(orjson.dumps(value, option=_CLONE_OPTIONS)))
    except (TypeError, orjson.JSONDecodeError):
        return cast(T, _clone(value))


def _clone(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _clone(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _clone(v) for v in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


def loads(data: str | bytes) -> Any:
    """The value of JSON `data`; ValueError (json.JSONDecodeError) when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class _Pairs(dict[str, Any]):
    """A decoded object that remembers the keys its text wrote more than once."""

    twice: list[str]


def _twice(items: list[tuple[str, Any]]) -> list[str]:
    seen: set[str] = set()
    twice: list[str] = []
    for key, _ in items:
        if key in seen:
            twice.append(key)
        seen.add(key)
    return twice


def duplicate_fields(data: str | bytes) -> list[str]:
    """Paths (`metadata.name`, `spec.containers[0].image`) of the keys JSON `data` writes
    twice in one object: orjson keeps the last silently, as Go does, and kube-apiserver's
    strict decoding reports them. Nothing for text that is not JSON or nests too deep: the
    decoder that reads the body says what is wrong with it."""
    if json_too_deep(data):
        return []
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        """A plain dict, built in C, unless a key repeats (rare): then one that says which."""
        nonlocal repeated
        out = dict(items)
        if len(out) == len(items):
            return out
        repeated = True
        marked = _Pairs(out)
        marked.twice = _twice(items)
        return marked

    try:
        root = json.loads(data, object_pairs_hook=pairs)
    except ValueError:  # json.JSONDecodeError, UnicodeDecodeError
        return []
    if not repeated:
        return []
    found: list[str] = []
    pending: list[tuple[str, Any]] = [("", root)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            if isinstance(value, _Pairs):
                found += [f"{path}.{k}" if path else k for k in value.twice]
            pending += [(f"{path}.{k}" if path else k, v) for k, v in value.items()]
        elif isinstance(value, list):
            pending += [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    return sorted(found)
