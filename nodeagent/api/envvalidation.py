"""Validation of a container's env[].valueFrom and envFrom as kube-apiserver does it
(validateEnvVarValueFrom, ValidateEnvFrom and the key selectors). Pure.
"""

from __future__ import annotations

from nodeagent.api import names
from nodeagent.api.bodies import Obj
from nodeagent.api.configvalidation import config_key
from nodeagent.api.downwardvalidation import ENV_FIELD_PATHS, field_ref, resource_field_ref
from nodeagent.api.fielderrors import Errors

ENV_NAME_MSG = (
    "a valid environment variable name must consist only of printable ASCII characters "
    "other than '='"
)
VALUE_FROM_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")


def env_name_problems(name: str) -> list[str]:
    """IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation, on by default)."""
    return [] if name.isascii() and name.isprintable() and "=" not in name else [ENV_NAME_MSG]


def _key_selector(ref: Obj, path: str, errs: Errors) -> None:
    name = errs.get_str(ref, "name", f"{path}.name")
    for msg in names.dns1123_subdomain(name) if name else []:
        errs.invalid(f"{path}.name", name, msg)
    key = errs.get_str(ref, "key", f"{path}.key")
    if not key:
        errs.required(f"{path}.key")
    for msg in config_key(key) if key else []:
        errs.invalid(f"{path}.key", key, msg)
    errs.get_bool(ref, "optional", f"{path}.optional")


def value_from(env: Obj, epath: str, errs: Errors) -> None:
    """One env var's valueFrom: exactly one source, and not beside a non-empty value."""
    if env.get("valueFrom") is None:
        return
    path = f"{epath}.valueFrom"
    source = errs.get_map(env, "valueFrom", path)
    found = [s for s in VALUE_FROM_SOURCES if source.get(s) is not None]
    if "fieldRef" in found:
        ref = errs.get_map(source, "fieldRef", f"{path}.fieldRef")
        field_ref(ref, f"{path}.fieldRef", errs, supported=ENV_FIELD_PATHS)
    if "resourceFieldRef" in found:
        ref = errs.get_map(source, "resourceFieldRef", f"{path}.resourceFieldRef")
        resource_field_ref(ref, f"{path}.resourceFieldRef", errs, volume=False)
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if kind in found:
            _key_selector(errs.get_map(source, kind, f"{path}.{kind}"), f"{path}.{kind}", errs)
    if not found and source.get("fileKeyRef") is None:
        errs.invalid(
            path,
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
            "`secretKeyRef`",
        )
    elif env.get("value"):
        errs.invalid(path, "", "may not be specified when `value` is not empty")
    elif len(found) > 1:
        errs.invalid(path, "", "may not have more than one field specified at a time")


def env_from(container: Obj, path: str, errs: Errors) -> None:
    """ValidateEnvFrom over container.envFrom at `path` (…containers[0])."""
    fpath = f"{path}.envFrom"
    for ipath, source in errs.get_maps(container, "envFrom", fpath):
        prefix = errs.get_str(source, "prefix", f"{ipath}.prefix")
        for msg in env_name_problems(prefix) if prefix else []:
            errs.invalid(f"{ipath}.prefix", prefix, msg)
        found = [k for k in ("configMapRef", "secretRef") if source.get(k) is not None]
        for kind in found:
            ref = errs.get_map(source, kind, f"{ipath}.{kind}")
            name = errs.get_str(ref, "name", f"{ipath}.{kind}.name")
            if not name:
                errs.required(f"{ipath}.{kind}.name")
            for msg in names.dns1123_subdomain(name) if name else []:
                errs.invalid(f"{ipath}.{kind}.name", name, msg)
            errs.get_bool(ref, "optional", f"{ipath}.{kind}.optional")
        # (sic) kube-apiserver reports these two at envFrom, not at the item
        if not found:
            errs.invalid(fpath, "", "must specify one of: `configMapRef` or `secretRef`")
        elif len(found) > 1:
            errs.invalid(fpath, "", "may not have more than one field specified at a time")
