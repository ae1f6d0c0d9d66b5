"""Validation of ConfigMaps and Secrets as kube-apiserver does it (ValidateConfigMap,
ValidateSecret and their Update twins): data keys, keys in both data and binaryData, the
1 MiB total, each common Secret type's required keys, `immutable`. Pure.

A Secret's values are never echoed in an error: a bad one is shown as kube-apiserver shows
it, `"<secret contents redacted>"`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from nodeagent.api import names
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import FieldError, GoValue
from nodeagent.api.fielderrors import Errors, sorted_errors
from nodeagent.api.metavalidation import object_meta_into

MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize: ConfigMaps share it
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY = re.compile(CONFIG_KEY_FMT)
CONFIG_KEY_MSG = names.regex_error(
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
    CONFIG_KEY_FMT,
    "key.name",
    "KEY_NAME",
    "key_name",
)
REDACTED = GoValue('"<secret contents redacted>"')
IMMUTABLE = "field is immutable when `immutable` is set"
SERVICE_ACCOUNT_NAME_KEY = "kubernetes.io/service-account.name"


def _as_map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def config_key(value: str) -> list[str]:
    """validation.IsConfigMapKey: the messages for a bad ConfigMap or Secret key."""
    errs = [names.max_len_error(253)] if len(value) > 253 else []
    if not _CONFIG_KEY.fullmatch(value):
        errs.append(CONFIG_KEY_MSG)
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def decoded(value: Any) -> bytes:
    """A []byte field's bytes (b"" when it is not base64: the type check reports that)."""
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _keys(errs: Errors, data: Obj, path: str) -> None:
    for key in data:
        for msg in config_key(str(key)):
            errs.invalid(f"{path}[{key}]", key, msg)


def _too_long(errs: Errors, path: str) -> None:
    errs.items.append(
        FieldError(
            field=path,
            type="Too long",
            detail=f"may not be more than {MAX_SECRET_SIZE} bytes",
            reason="FieldValueTooLong",
        )
    )


def validate_configmap(cm: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(cm, errs, namespaced=True)
    data = errs.get_map(cm, "data", "data")
    binary = errs.get_map(cm, "binaryData", "binaryData")
    _keys(errs, data, "data")
    for key in data:
        if key in binary:
            errs.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
    _keys(errs, binary, "binaryData")
    errs.get_bool(cm, "immutable", "immutable")
    size = sum(len(v.encode()) for v in data.values() if isinstance(v, str))
    size += sum(len(decoded(v)) for v in binary.values())
    if size > MAX_SECRET_SIZE:
        _too_long(errs, "[]")  # kube-apiserver's path for "the whole object"
    return sorted_errors(errs.items)


def _required(*keys: str) -> Callable[[Mapping[str, bytes], Errors], None]:
    def check(data: Mapping[str, bytes], errs: Errors) -> None:
        for key in keys:
            if key not in data:
                errs.required(f"data[{key}]")

    return check


def _json_key(key: str) -> Callable[[Mapping[str, bytes], Errors], None]:
    def check(data: Mapping[str, bytes], errs: Errors) -> None:
        if key not in data:
            errs.required(f"data[{key}]")
            return
        try:
            parsed = json.loads(data[key])
        except ValueError as exc:
            errs.invalid(f"data[{key}]", REDACTED, str(exc).split(":")[0])
            return
        if not isinstance(parsed, dict):
            errs.invalid(f"data[{key}]", REDACTED, "must be a JSON object")

    return check


def _basic_auth(data: Mapping[str, bytes], errs: Errors) -> None:
    # either may be empty, but one of the two must be there
    if "username" not in data and "password" not in data:
        errs.required("data[username]")
        errs.required("data[password]")


def _ssh_auth(data: Mapping[str, bytes], errs: Errors) -> None:
    if not data.get("ssh-privatekey"):
        errs.required("data[ssh-privatekey]")


# Secret type -> what its data must hold (ValidateSecret's switch; other types: anything)
SECRET_TYPES: Mapping[str, Callable[[Mapping[str, bytes], Errors], None]] = {
    "kubernetes.io/dockercfg": _json_key(".dockercfg"),
    "kubernetes.io/dockerconfigjson": _json_key(".dockerconfigjson"),
    "kubernetes.io/basic-auth": _basic_auth,
    "kubernetes.io/ssh-auth": _ssh_auth,
    "kubernetes.io/tls": _required("tls.crt", "tls.key"),
}


def validate_secret(secret: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(secret, errs, namespaced=True)
    raw = errs.get_map(secret, "data", "data")
    _keys(errs, raw, "data")
    data = {str(k): decoded(v) for k, v in raw.items()}
    if sum(len(v) for v in data.values()) > MAX_SECRET_SIZE:
        _too_long(errs, "data")
    kind = errs.get_str(secret, "type", "type")
    errs.get_bool(secret, "immutable", "immutable")
    if kind == "kubernetes.io/service-account-token":
        meta = _as_map(secret.get("metadata"))
        if not _as_map(meta.get("annotations")).get(SERVICE_ACCOUNT_NAME_KEY):
            errs.required(f"metadata.annotations[{SERVICE_ACCOUNT_NAME_KEY}]")
    check = SECRET_TYPES.get(kind)
    if check is not None:
        check(data, errs)
    return sorted_errors(errs.items)


def _immutable(new: Obj, old: Obj, fields: tuple[str, ...]) -> list[FieldError]:
    """Once `immutable: true` is stored it stays, and so do the data fields."""
    errs = Errors()
    if old.get("immutable") is not True:
        return []
    if new.get("immutable") is not True:
        errs.forbidden("immutable", IMMUTABLE)
    for field in fields:
        if (new.get(field) or {}) != (old.get(field) or {}):
            errs.forbidden(field, IMMUTABLE)
    return errs.items


def validate_configmap_update(new: Obj, old: Obj) -> list[FieldError]:
    return _immutable(new, old, ("data", "binaryData"))


def validate_secret_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = _immutable(new, old, ("data",))
    if new.get("type") != old.get("type"):
        errs.insert(
            0,
            FieldError(
                field="type",
                type="Invalid value",
                value=new.get("type"),
                detail="field is immutable",
            ),
        )
    return errs
