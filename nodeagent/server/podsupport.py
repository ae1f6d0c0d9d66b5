"""PURE: what in a Pod or a DaemonSet's pod template the agent cannot honour, as the
`Warning:` lines kubectl prints when the object is created or updated (kube-apiserver's
admission warnings, `<field path>: <why>`).

The fields and values the agent honours are the agent's own tables (runtime/convert.py), so
the two never disagree; volume kinds are listed here. What cannot run at all is refused by
validation instead. The agent names the same things again on the pod, as NotSupported
events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.runtime.convert import (
    CONTAINER_FIELDS,
    CONTAINER_SECURITY_FIELDS,
    POD_FIELDS,
    POD_SECURITY_FIELDS,
    RESOURCE_NAMES,
)

# volume kinds whose contents the agent provides (hostPath and emptyDir by the runtime; the
# four projected kinds written by the agent before a container starts)
SUPPORTED_VOLUMES = frozenset(
    {"name", "hostPath", "emptyDir", "configMap", "secret", "downwardAPI", "projected"}
)
SUPPORTED_PROJECTIONS = frozenset({"configMap", "secret", "downwardAPI", "serviceAccountToken"})
AGENT = "not supported by the nodeagent agent"


def _map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _maps(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def warnings_for(obj: Obj) -> list[str]:
    """The warnings for a Pod's spec or a DaemonSet's template; none for other kinds."""
    if obj.get("kind") == "Pod":
        return list(_pod_spec(_map(obj.get("spec")), "spec"))
    if obj.get("kind") == "DaemonSet":
        template = _map(_map(obj.get("spec")).get("template"))
        return list(_pod_spec(_map(template.get("spec")), "spec.template.spec"))
    return []


def _pod_spec(spec: Obj, path: str) -> Iterator[str]:
    for key in spec:
        if key not in POD_FIELDS:
            yield f"{path}.{key}: {AGENT}; ignored"
    security = _map(spec.get("securityContext"))
    for key in security:
        if key not in POD_SECURITY_FIELDS:
            yield f"{path}.securityContext.{key}: {AGENT}; ignored"
    if security.get("fsGroup") is not None:
        yield f"{path}.securityContext.fsGroup: added as a group; volume ownership is not changed"
    yield from _volumes(spec, path)
    for list_name in ("initContainers", "containers"):
        for i, container in enumerate(_maps(spec.get(list_name))):
            yield from _container(container, f"{path}.{list_name}[{i}]")


def _volumes(spec: Obj, path: str) -> Iterator[str]:
    for i, volume in enumerate(_maps(spec.get("volumes"))):
        vpath = f"{path}.volumes[{i}]"
        for kind in volume:
            if kind not in SUPPORTED_VOLUMES:
                yield (
                    f"{vpath}.{kind}: volume type {kind} is {AGENT}; containers run without "
                    "this volume's mounts"
                )
        empty = _map(volume.get("emptyDir"))
        if empty.get("medium"):
            yield f"{vpath}.emptyDir.medium: {empty['medium']} is backed by disk"
        if empty.get("sizeLimit") is not None:
            yield f"{vpath}.emptyDir.sizeLimit: not enforced"
        for j, source in enumerate(_maps(_map(volume.get("projected")).get("sources"))):
            for kind in source:
                if kind not in SUPPORTED_PROJECTIONS:
                    yield f"{vpath}.projected.sources[{j}].{kind}: {AGENT}; ignored"


def _container(container: Obj, path: str) -> Iterator[str]:
    for key in container:
        if key not in CONTAINER_FIELDS:
            yield f"{path}.{key}: {AGENT}; ignored"
    security = _map(container.get("securityContext"))
    for key in security:
        if key not in CONTAINER_SECURITY_FIELDS:
            yield f"{path}.securityContext.{key}: {AGENT}; ignored"
    if _map(security.get("seccompProfile")).get("type") == "Localhost":
        yield f"{path}.securityContext.seccompProfile: Localhost is {AGENT}; engine default used"
    resources = _map(container.get("resources"))
    for part in ("limits", "requests"):
        for name in _map(resources.get(part)):
            if name not in RESOURCE_NAMES:
                yield f"{path}.resources.{part}[{name}]: {AGENT}; ignored"
    if "ephemeral-storage" in _map(resources.get("limits")):
        yield f"{path}.resources.limits[ephemeral-storage]: not enforced"
    for j, mount in enumerate(_maps(container.get("volumeMounts"))):
        if mount.get("subPathExpr"):
            yield (f"{path}.volumeMounts[{j}].subPathExpr: {AGENT}; the whole volume is mounted")
