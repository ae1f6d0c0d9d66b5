"""Manifest text -> API objects: multi-document YAML or a JSON stream, `kind: List` flattened,
and back to YAML/JSON; and the one bounded YAML/JSON loader every request body goes through
(load_yaml, load_json). Pure: takes text, never paths.

Bounded as nodeagent.api.limits says: nesting past MAX_DEPTH and YAML aliases past Kubernetes'
expansion budget are refused before they cost memory.

Every failure is a DecodeError carrying source, line and column (1-based), printed as
`FILE:LINE:COL: message`. Values that JSON cannot hold (YAML timestamps stay strings, binary,
sets, NaN) are refused with the line they are on.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.limits import MAX_DEPTH, excessive_aliasing, json_too_deep, too_deep_message


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
    """SafeLoader minus the implicit timestamp type (Kubernetes keeps times as strings), whose
    composer refuses a document nested more than MAX_DEPTH levels before Python's own stack
    would (the composer recurses once per level)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise DecodeError(
                    too_deep_message(), source=self.name, line=mark.line + 1, column=mark.column + 1
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_MERGE = "tag:yaml.org,2002:merge"


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
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
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


class _Expansion:
    """Turns one composed YAML document into JSON-shaped values under Kubernetes' alias
    budget. PyYAML composes an alias as the very node its anchor names, so a node met a
    second time is an alias being expanded: everything decoded under it counts against the
    budget (limits.excessive_aliasing), checked at every node, so a billion-laughs document
    stops after a few thousand nodes instead of building its billion."""

    def __init__(self, loader: _Loader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.met: set[int] = set()
        self.open: set[int] = set()  # the collections being decoded: the way down to here
        self.decoded = 0
        self.aliased = 0

    def _error(self, message: str, node: yaml.Node) -> DecodeError:
        mark = node.start_mark
        return DecodeError(message, source=self.source, line=mark.line + 1, column=mark.column + 1)

    def value(self, node: yaml.Node, *, depth: int = 1, in_alias: bool = False) -> Any:
        if id(node) in self.met:
            in_alias = True
        self.met.add(id(node))
        self.decoded += 1
        self.aliased += in_alias
        if excessive_aliasing(decoded=self.decoded, aliased=self.aliased):
            raise self._error("document contains excessive aliasing", node)
        if depth > MAX_DEPTH:  # aliases nest anchors inside each other past the text's depth
            raise self._error(too_deep_message(), node)
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self._scalar(node)
        if id(node) in self.open:
            raise self._error("recursive alias", node)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, depth=depth, in_alias=in_alias)
            return [self.value(i, depth=depth + 1, in_alias=in_alias) for i in node.value]
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, *, depth: int, in_alias: bool) -> Obj:
        _no_duplicate_keys(node, self.source)
        merged: Obj = {}
        own: Obj = {}
        where = (node.start_mark.line + 1, node.start_mark.column + 1)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # `<<: *base` or `<<: [*a, *b]`: the first one wins
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in reversed(sources):
                    base = self.value(source, depth=depth, in_alias=in_alias)
                    if not isinstance(base, dict):
                        raise self._error("a merge key (<<) needs a mapping", source)
                    merged.update(base)
                continue
            key = _mapping_key(
                self.value(key_node, depth=depth + 1, in_alias=in_alias), where, self.source
            )
            own[key] = self.value(value_node, depth=depth + 1, in_alias=in_alias)
        if not merged:
            return own
        merged.update(own)
        return merged

    def _scalar(self, node: yaml.Node) -> Any:
        value = self.loader.construct_object(node, deep=True)
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        raise self._error(f"value {node.value!r} ({node.tag}) is not a JSON value", node)


def _from_yaml(text: str, source: str) -> list[tuple[Any, int, int]]:
    try:
        loader = _Loader(text)
        loader.name = source
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
                value = _Expansion(loader, source).value(node)
                docs.append((value, mark.line + 1, mark.column + 1))
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
    if json_too_deep(text):
        raise DecodeError(too_deep_message(), source=source)
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


def load_yaml(text: str, *, source: str = "<input>") -> Any:
    """The value of a YAML text of at most one document (None when empty), bounded as
    decode_documents is: depth, alias budget, JSON values only, no duplicate keys."""
    if "\x00" in text:
        line, column = _position_of(text, text.index("\x00"))
        raise DecodeError("NUL character in input", source=source, line=line, column=column)
    docs = _from_yaml(text, source)
    if len(docs) > 1:
        line, column = docs[1][1:]
        raise DecodeError("expected a single document", source=source, line=line, column=column)
    return docs[0][0] if docs else None


def load_json(data: bytes | str, *, source: str = "<input>") -> Any:
    """The value of JSON `data`, its depth checked on the text before it is decoded."""
    if json_too_deep(data):
        raise DecodeError(too_deep_message(), source=source)
    try:
        return jsontext.loads(data)
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        raise DecodeError(str(exc), source=source) from exc


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
