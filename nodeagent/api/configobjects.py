"""PURE checks of a ConfigMap or Secret carried in a manifest file, before its pods use it.

The metadata as any object's, `data`/`binaryData`/`stringData` as mappings of config keys
(kube-apiserver's IsConfigMapKey: alphanumerics, '-', '_', '.') to strings, base64 where the
API says so. The server's own admission of these kinds is api/validation.py's when it has them.
"""

from __future__ import annotations

import re
from typing import Any

from nodeagent.api.errors import FieldError
from nodeagent.api.metavalidation import validate_object_meta
from nodeagent.api.projection import ReferenceFailure, object_data

Obj = dict[str, Any]
CONFIG_KINDS = frozenset({"ConfigMap", "Secret"})
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_MAPS = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "stringData")}


def _invalid(path: str, value: object, detail: str) -> FieldError:
    return FieldError(field=path, type="Invalid value", value=str(value), detail=detail)


def with_default_namespace(obj: Obj) -> Obj:
    """The object with metadata.namespace "default" when it names none (as a pod's)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or meta.get("namespace"):
        return obj
    return {**obj, "metadata": {**meta, "namespace": "default"}}


def config_object_errors(obj: Obj) -> list[FieldError]:
    """Every error of a ConfigMap or Secret document, with its field path."""
    errors = validate_object_meta(obj)
    for field in _MAPS[str(obj.get("kind"))]:
        values = obj.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            errors.append(_invalid(field, type(values).__name__, "must be a mapping"))
            continue
        for key, value in values.items():
            if not isinstance(key, str) or not _KEY.match(key) or key in (".", ".."):
                errors.append(
                    _invalid(
                        f"{field}[{key}]",
                        key,
                        "a valid config key must consist of alphanumeric characters, "
                        "'-', '_' or '.'",
                    )
                )
            elif not isinstance(value, str):
                errors.append(_invalid(f"{field}[{key}]", "<value>", "must be a string"))
    if not errors:
        try:
            object_data(obj)
        except ReferenceFailure as e:
            errors.append(
                _invalid(
                    str(e).split(": ")[-2] if ": " in str(e) else "data",
                    "<value>",
                    "illegal base64 data",
                )
            )
    return errors
