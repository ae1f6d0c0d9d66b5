"""The in-memory copy of every object a store serves its reads from: each object's JSON text
and resourceVersion by (resource, namespace, name), with the pods-by-node index. No I/O; the
store decides what goes in (etcd.py from its watch; sqlite.py could use it for its copy too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nodeagent.api.bodies import Obj

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    resource_version: int
    node_name: str  # pods: spec.nodeName ("" otherwise)
    text: str  # the object's JSON, resourceVersion included


def node_of(resource: str, obj: Obj) -> str:
    if resource != "pods":
        return ""
    return str((obj.get("spec") or {}).get("nodeName") or "")


class ObjectTable:
    def __init__(self) -> None:
        self._rows: dict[str, dict[Key, Row]] = {}
        self._by_node: dict[str, set[Key]] = {}

    def row(self, resource: str, key: Key) -> Row | None:
        return self._rows.get(resource, {}).get(key)

    def get(self, resource: str, key: Key) -> Obj | None:
        row = self.row(resource, key)
        if row is None:
            return None
        obj: Obj = json.loads(row.text)
        return obj

    def items(
        self, resource: str, *, namespace: str | None = None, node_name: str | None = None
    ) -> list[Obj]:
        """Objects in key order (one namespace; for pods, one node's from the index)."""
        rows = self._rows.get(resource, {})
        if node_name is not None and resource == "pods":
            keys = sorted(self._by_node.get(node_name, set()))
        else:
            keys = sorted(rows)
        return [
            json.loads(rows[k].text)
            for k in keys
            if k in rows and (namespace is None or k[0] == namespace)
        ]

    def put(self, resource: str, key: Key, row: Row) -> Row | None:
        """Store `row`, replacing (and returning) the one held before."""
        old = self.remove(resource, key)
        self._rows.setdefault(resource, {})[key] = row
        if row.node_name:
            self._by_node.setdefault(row.node_name, set()).add(key)
        return old

    def remove(self, resource: str, key: Key) -> Row | None:
        old = self._rows.get(resource, {}).pop(key, None)
        if old is not None and old.node_name:
            keys = self._by_node.get(old.node_name)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_node[old.node_name]
        return old
