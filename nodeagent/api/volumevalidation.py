"""Validation of the volume sources that project API objects into files, as kube-apiserver
does it: configMap, secret, downwardAPI and projected (validateConfigMapVolumeSource,
validateSecretVolumeSource, validateDownwardAPIVolumeSource, validateProjectedVolumeSource),
their items (key, a relative path without '..', mode 0-0777) and defaultMode. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.downwardvalidation import VOLUME_FIELD_PATHS, field_ref, resource_field_ref
from nodeagent.api.fielderrors import Errors

FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
MIN_TOKEN_SECONDS = 10 * 60
MAX_TOKEN_SECONDS = 1 << 32


def local_descending_path(value: str, path: str, errs: Errors) -> None:
    """validateLocalDescendingPath: relative, and no `..` element (one error is enough)."""
    if value.startswith("/"):
        errs.invalid(path, value, "must be a relative path")
    if ".." in value.replace("\\", "/").split("/"):
        errs.invalid(path, value, "must not contain '..'")


def local_non_reserved_path(value: str, path: str, errs: Errors) -> None:
    """ValidateLocalNonReservedPath: as above, and not starting with `..` (the atomic
    writer's `..data` and timestamped dirs live there)."""
    local_descending_path(value, path, errs)
    if value.startswith("..") and not value.startswith("../"):
        errs.invalid(path, value, "must not start with '..'")


def _mode(obj: Obj, key: str, path: str, errs: Errors) -> None:
    mode = errs.get_int(obj, key, path)
    if mode is not None and not 0 <= mode <= 0o777:
        errs.invalid(path, mode, FILE_MODE_MSG)


def _key_to_path(item: Obj, path: str, errs: Errors) -> str:
    if not errs.get_str(item, "key", f"{path}.key"):
        errs.required(f"{path}.key")
    target = errs.get_str(item, "path", f"{path}.path")
    if not target:
        errs.required(f"{path}.path")
    local_non_reserved_path(target, f"{path}.path", errs)
    _mode(item, "mode", f"{path}.mode", errs)
    return target


def _downward_file(item: Obj, path: str, errs: Errors) -> str:
    """validateDownwardAPIVolumeFile. (sic) kube-apiserver reports an item's errors at the
    source's path, not at items[i]; so does this."""
    target = errs.get_str(item, "path", f"{path}.path")
    if not target:
        errs.required(f"{path}.path")
    local_non_reserved_path(target, f"{path}.path", errs)
    field = errs.get_map(item, "fieldRef", f"{path}.fieldRef")
    resource = errs.get_map(item, "resourceFieldRef", f"{path}.resourceFieldRef")
    if item.get("fieldRef") is not None:
        field_ref(field, f"{path}.fieldRef", errs, supported=VOLUME_FIELD_PATHS)
        if item.get("resourceFieldRef") is not None:
            errs.invalid(
                path,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            )
    elif item.get("resourceFieldRef") is not None:
        resource_field_ref(resource, f"{path}.resourceFieldRef", errs, volume=True)
    else:
        errs.required(path, "one of fieldRef and resourceFieldRef is required")
    _mode(item, "mode", f"{path}.mode", errs)
    return target


def _named_source(name_key: str) -> Callable[[Obj, str, Errors], None]:
    """configMap (name) and secret (secretName) volumes."""

    def check(source: Obj, path: str, errs: Errors) -> None:
        if not errs.get_str(source, name_key, f"{path}.{name_key}"):
            errs.required(f"{path}.{name_key}")
        _mode(source, "defaultMode", f"{path}.defaultMode", errs)
        for ipath, item in errs.get_maps(source, "items", f"{path}.items"):
            _key_to_path(item, ipath, errs)
        errs.get_bool(source, "optional", f"{path}.optional")

    return check


def _downward_api(source: Obj, path: str, errs: Errors) -> None:
    _mode(source, "defaultMode", f"{path}.defaultMode", errs)
    for _ipath, item in errs.get_maps(source, "items", f"{path}.items"):
        _downward_file(item, path, errs)


def _projected(source: Obj, path: str, errs: Errors) -> None:
    _mode(source, "defaultMode", f"{path}.defaultMode", errs)
    seen: set[str] = set()

    def once(target: str, shown: Any) -> None:
        if target and target in seen:
            errs.invalid(path, shown, "conflicting duplicate paths")
        seen.add(target)

    for spath, projection in errs.get_maps(source, "sources", f"{path}.sources"):
        kinds = [k for k in PROJECTIONS if projection.get(k) is not None]
        for kind in ("secret", "configMap"):
            if projection.get(kind) is None:
                continue
            ref = errs.get_map(projection, kind, f"{spath}.{kind}")
            if not errs.get_str(ref, "name", f"{spath}.{kind}.name"):
                errs.required(f"{spath}.{kind}.name")
            for ipath, item in errs.get_maps(ref, "items", f"{spath}.{kind}.items"):
                once(_key_to_path(item, ipath, errs), ref.get("name", ""))
        if projection.get("downwardAPI") is not None:
            downward = errs.get_map(projection, "downwardAPI", f"{spath}.downwardAPI")
            for _ipath, item in errs.get_maps(downward, "items", f"{spath}.downwardAPI.items"):
                target = _downward_file(item, f"{spath}.downwardAPI", errs)
                once(target, target)
        if projection.get("serviceAccountToken") is not None:
            token = errs.get_map(projection, "serviceAccountToken", f"{spath}.serviceAccountToken")
            _token(token, spath, path, errs)
        if len(kinds) > 1:
            errs.forbidden(spath, "may not specify more than 1 volume type per source")


def _token(token: Obj, spath: str, path: str, errs: Errors) -> None:
    tpath = f"{spath}.serviceAccountToken"
    seconds = errs.get_int(token, "expirationSeconds", f"{tpath}.expirationSeconds")
    if seconds is not None and seconds < MIN_TOKEN_SECONDS:
        errs.invalid(
            f"{tpath}.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"
        )
    if seconds is not None and seconds > MAX_TOKEN_SECONDS:
        errs.invalid(
            f"{tpath}.expirationSeconds",
            seconds,
            "may not specify a duration larger than 2^32 seconds",
        )
    target = errs.get_str(token, "path", f"{tpath}.path")
    if not target:
        errs.required(f"{path}.path")  # (sic) the projected volume's path, as kube-apiserver
    else:
        local_non_reserved_path(target, f"{path}.path", errs)


PROJECTIONS = (
    "secret",
    "downwardAPI",
    "configMap",
    "serviceAccountToken",
    "clusterTrustBundle",
    "podCertificate",
)

# volume source -> its validator (the sources not named have no checks of their own here)
SOURCE_VALIDATORS: Mapping[str, Callable[[Obj, str, Errors], None]] = {
    "configMap": _named_source("name"),
    "secret": _named_source("secretName"),
    "downwardAPI": _downward_api,
    "projected": _projected,
}


def validate_volume_source(volume: Obj, vpath: str, errs: Errors) -> None:
    """The checks of whichever of these sources `volume` has."""
    for kind, check in SOURCE_VALIDATORS.items():
        if volume.get(kind) is not None:
            check(errs.get_map(volume, kind, f"{vpath}.{kind}"), f"{vpath}.{kind}", errs)
