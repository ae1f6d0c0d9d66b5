"""Manifest text -> API objects: multi-document YAML or a JSON stream, `kind: List` flattened,
and back to YAML/JSON. Pure: takes text, never paths.

Every failure is a DecodeError carrying source, line and column (1-based), printed as
`FILE:LINE:COL: message`. Values that JSON cannot hold (YAML timestamps stay strings, binary,
sets, NaN) are refused with the line they are on.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

Obj = dict[str, Any]


class DecodeError(ValueError):
    """Text that is not a usable manifest, with where."""

    def __init__(self, message: str, *, source: str, line: int = 0, column: int = 0) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line:
            return f"{self.source}:{self.line}:{self.column}: {self.message}"
        return f"{self.source}: {self.message}"


class _Loader(yaml.SafeLoader):
    """SafeLoader minus the implicit timestamp type (Kubernetes keeps times as strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping_key(key: Any, where: tuple[int, int], source: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return json.dumps(key)
    raise DecodeError("mapping keys must be strings", source=source, line=where[0], column=where[1])


def _no_duplicate_keys(node: yaml.MappingNode, source: str) -> None:
    """A key written twice in one mapping is an error (as Kubernetes' YAML decoder says),
    never a silent override."""
    seen: set[str] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if key_node.value in seen:
            mark = key_node.start_mark
            raise DecodeError(
                f'key "{key_node.value}" already set in map',
                source=source,
                line=mark.line + 1,
                column=mark.column + 1,
            )
        seen.add(key_node.value)


def _plain(node: yaml.Node, loader: _Loader, source: str, seen: frozenset[int]) -> Any:
    """A composed YAML node -> JSON-shaped Python value (no constructor surprises)."""
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    if id(node) in seen:
        raise DecodeError("recursive alias", source=source, line=line, column=column)
    if isinstance(node, yaml.MappingNode):
        inner = seen | {id(node)}
        _no_duplicate_keys(node, source)
        loader.flatten_mapping(node)  # resolves `<<` merge keys (their keys may be overridden)
        out: Obj = {}
        for key_node, value_node in node.value:
            key = _mapping_key(_plain(key_node, loader, source, inner), (line, column), source)
            out[key] = _plain(value_node, loader, source, inner)
        return out
    if isinstance(node, yaml.SequenceNode):
        inner = seen | {id(node)}
        return [_plain(item, loader, source, inner) for item in node.value]
    value = loader.construct_object(node, deep=True)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise DecodeError(
        f"value {node.value!r} ({node.tag}) is not a JSON value",
        source=source,
        line=line,
        column=column,
    )


def _from_yaml(text: str, source: str) -> list[tuple[Any, int, int]]:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line, column = _position_of(text, exc.position)
        raise DecodeError(
            f"unacceptable character #x{exc.character:04x}", source=source, line=line, column=column
        ) from exc
    docs: list[tuple[Any, int, int]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                mark = node.start_mark
                docs.append(
                    (_plain(node, loader, source, frozenset()), mark.line + 1, mark.column + 1)
                )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = ": ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise DecodeError(message, source=source, line=line, column=column) from exc
    except yaml.reader.ReaderError as exc:
        line, column = _position_of(text, exc.position)
        raise DecodeError(
            f"unacceptable character #x{exc.character:04x}", source=source, line=line, column=column
        ) from exc
    except yaml.YAMLError as exc:
        raise DecodeError(f"invalid YAML: {exc}", source=source) from exc
    except RecursionError as exc:
        raise DecodeError("document nested too deeply", source=source) from exc
    finally:
        loader.dispose()
    return docs


def _from_json(text: str, source: str) -> list[tuple[Any, int, int]]:
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    docs: list[tuple[Any, int, int]] = []
    pos = 0
    try:
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                return docs
            start = pos
            value, pos = decoder.raw_decode(text, pos)
            docs.append((value, *_position_of(text, start)))
    except json.JSONDecodeError as exc:
        raise DecodeError(exc.msg, source=source, line=exc.lineno, column=exc.colno) from exc
    except RecursionError as exc:
        raise DecodeError("document nested too deeply", source=source) from exc


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _position_of(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


_JSON_TYPES: dict[type, str] = {
    list: "list",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
}


def decode_documents(text: str, *, source: str = "<input>") -> list[Obj]:
    """Every object in text, in order: empty documents skipped, `kind: List` flattened.

    Raises DecodeError for text that is not YAML/JSON, or a document that is not an object.
    """
    if not isinstance(text, str):
        raise DecodeError("input is not text", source=source)
    if "\x00" in text:
        line, column = _position_of(text, text.index("\x00"))
        raise DecodeError("NUL character in input", source=source, line=line, column=column)
    stripped = text.lstrip()
    docs = _from_json(text, source) if stripped.startswith("{") else _from_yaml(text, source)
    objects: list[Obj] = []
    for index, (doc, line, column) in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise DecodeError(
                f"document {index + 1} is a {_JSON_TYPES.get(type(doc), 'value')}, "
                "expected an object",
                source=source,
                line=line,
                column=column,
            )
        objects.extend(_flatten(doc, source))
    return objects


def _flatten(doc: Obj, source: str) -> list[Obj]:
    kind = doc.get("kind")
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
        return [doc]
    items = doc.get("items")
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise DecodeError(f"{kind}.items must be a list of objects", source=source)
    out: list[Obj] = []
    for item in items:
        out.extend(_flatten(item, source))
    return out


def to_json(obj: Any) -> str:
    """Compact JSON in the object's own key order."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def to_yaml(obj: Any) -> str:
    """Block-style YAML in the object's own key order (as kubectl -o yaml)."""
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=False, allow_unicode=True)
