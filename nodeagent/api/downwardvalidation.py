"""Validation of the downward API's selectors as kube-apiserver does it: a fieldRef
(validateObjectFieldSelector, with the field paths env and volumes each support) and a
resourceFieldRef (validateContainerResourceFieldSelector and its divisor). Pure.

What each field path means, and which ones the agent fills in, is the agent's (runtime/).
"""

from __future__ import annotations

import re

from nodeagent.api import names
from nodeagent.api.bodies import Obj
from nodeagent.api.fielderrors import Errors
from nodeagent.api.quantity import parse_quantity

# podshelper.ConvertDownwardAPIFieldLabel: the field labels v1 knows at all
KNOWN_FIELD_PATHS = frozenset(
    {
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "spec.schedulerName",
        "status.phase",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    }
)
# validEnvDownwardAPIFieldPathExpressions (labels and annotations only with a subscript)
ENV_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
# validVolumeDownwardAPIFieldPathExpressions
VOLUME_FIELD_PATHS = (
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
)
RESOURCE_PATHS = (
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
)
HUGEPAGES_PREFIXES = ("limits.hugepages-", "requests.hugepages-")
_SUBSCRIPTED = re.compile(r"^(.*)\['(.*)'\]$")
_CPU_DIVISORS = ("1m", "1")
_MEMORY_DIVISORS = tuple(
    f"1{s}" for s in ("", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
)
_DIVISORS: dict[str, tuple[tuple[str, ...], str]] = {
    "cpu": (_CPU_DIVISORS, "only divisor's values 1m and 1 are supported with the cpu resource"),
    "memory": (
        _MEMORY_DIVISORS,
        "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are "
        "supported with the memory resource",
    ),
    "ephemeral-storage": (
        _MEMORY_DIVISORS,
        "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are "
        "supported with the local ephemeral storage resource",
    ),
}


def split_subscript(path: str) -> tuple[str, str] | None:
    """fieldpath.SplitMaybeSubscriptedPath: `metadata.labels['app']` -> (path, key)."""
    match = _SUBSCRIPTED.match(path)
    return (match.group(1), match.group(2)) if match else None


def field_ref(ref: Obj, path: str, errs: Errors, *, supported: tuple[str, ...]) -> None:
    """validateObjectFieldSelector at `path` (…fieldRef)."""
    api_version = errs.get_str(ref, "apiVersion", f"{path}.apiVersion")
    if not api_version:
        errs.required(f"{path}.apiVersion")
        return
    field_path = errs.get_str(ref, "fieldPath", f"{path}.fieldPath")
    if not field_path:
        errs.required(f"{path}.fieldPath")
        return
    subscripted = split_subscript(field_path)
    problem = ""
    if api_version != "v1":
        problem = f"unsupported pod version: {api_version}"
    elif subscripted is not None:
        if subscripted[0] not in ("metadata.annotations", "metadata.labels"):
            problem = f"field label does not support subscript: {field_path}"
    elif field_path not in KNOWN_FIELD_PATHS and field_path != "spec.host":
        problem = f"field label not supported: {field_path}"
    if problem:
        errs.invalid(f"{path}.fieldPath", field_path, f"error converting fieldPath: {problem}")
        return
    if subscripted is not None:
        base, key = subscripted
        key = key.lower() if base == "metadata.annotations" else key
        for msg in names.qualified_name(key):
            errs.invalid(path, key, msg)
        return
    internal = "spec.nodeName" if field_path == "spec.host" else field_path
    if internal not in supported:
        errs.not_supported(f"{path}.fieldPath", internal, sorted(supported))


def resource_field_ref(ref: Obj, path: str, errs: Errors, *, volume: bool) -> None:
    """validateContainerResourceFieldSelector at `path` (…resourceFieldRef); in a volume the
    container must be named."""
    container = errs.get_str(ref, "containerName", f"{path}.containerName")
    resource = errs.get_str(ref, "resource", f"{path}.resource")
    if volume and not container:
        errs.required(f"{path}.containerName")
    elif not resource:
        errs.required(f"{path}.resource")
    elif resource not in RESOURCE_PATHS and not resource.startswith(HUGEPAGES_PREFIXES):
        errs.not_supported(f"{path}.resource", resource, RESOURCE_PATHS)
    divisor = ref.get("divisor")
    if divisor is None:
        return
    try:
        value = parse_quantity(divisor)
    except ValueError:
        errs.invalid(f"{path}.divisor", str(divisor), "must be a quantity")
        return
    if value == 0:
        return  # unset
    allowed = _DIVISORS.get(resource.partition(".")[2])
    if allowed is not None and not any(value == parse_quantity(d) for d in allowed[0]):
        errs.invalid(f"{path}.divisor", resource, allowed[1])
