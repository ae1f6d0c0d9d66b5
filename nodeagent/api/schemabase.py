"""The building blocks of nodeagent.api.schema: Field, Type, F and the OpenAPI packages.

Pure; split out so that the per-area type tables (schema.py, schemaconfig.py) share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# "bytes" is Go's []byte: a base64 string in JSON (Secret and ConfigMap binaryData values)
PRIMITIVES = frozenset(
    {
        "string",
        "integer",
        "number",
        "boolean",
        "time",
        "quantity",
        "int-or-string",
        "object",
        "bytes",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    type: str
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Type:
    package: str  # the OpenAPI schema prefix: io.k8s.api.core.v1
    description: str
    fields: Mapping[str, Field] = field(default_factory=dict)
    gvk: tuple[str, str, str] | None = None  # (group, version, kind) for top-level kinds

    @property
    def required(self) -> list[str]:
        return [name for name, f in self.fields.items() if f.required]


def F(type_: str, description: str = "", *, required: bool = False) -> Field:
    return Field(type=type_, description=description, required=required)


CORE = "io.k8s.api.core.v1"
APPS = "io.k8s.api.apps.v1"
COORD = "io.k8s.api.coordination.v1"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
STR_MAP = "map[string]string"

TYPE_META: dict[str, Any] = {
    "apiVersion": F("string", "APIVersion defines the versioned schema of this representation."),
    "kind": F("string", "Kind is a string value representing the REST resource."),
    "metadata": F("ObjectMeta", "Standard object's metadata."),
}
