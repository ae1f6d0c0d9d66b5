"""PURE what a pod reads from ConfigMaps, Secrets and itself: references, volume files, values.

Owns kubelet's rules for configMap, secret, downwardAPI and projected volumes (the files and
modes a volume holds, `items`, `defaultMode`, `mode`, `optional`), the downward API's field and
resource values (`fieldpath.ExtractFieldPathAsString`, `ExtractContainerResourceValue`), and
which ConfigMaps and Secrets a pod references. It does not fetch objects, write files or build
environments (runtime/convert.py does that from these values). A reference that cannot be met
raises `ReferenceFailure` with kubelet's message (`configmap "x" not found`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from nodeagent.api.bodies import Obj
from nodeagent.api.quantity import parse_quantity
from nodeagent.api.satoken import TokenSpec, token_spec

ObjectKey = tuple[str, str, str]  # (kind "ConfigMap" | "Secret", namespace, name)
Objects = Mapping[ObjectKey, Mapping[str, bytes]]  # the data of the objects a pod may read
Tokens = Mapping[TokenSpec, str]  # the ServiceAccount tokens fetched for a pod's volumes
CONFIG_MAP = "ConfigMap"
SECRET = "Secret"
DEFAULT_MODE = 0o644  # kubelet's default for all four volume kinds (420)
PROJECTED_KINDS = ("configMap", "secret", "downwardAPI", "projected")
VOLUME_FIELD_PATHS = frozenset({"metadata.name", "metadata.namespace", "metadata.uid"})
_MAP_REF = re.compile(r"^metadata\.(labels|annotations)(?:\['([^']+)'\])?$")
# volume kind -> (field naming the object, object kind, kubelet's lower-case word)
_REF_FIELDS: Mapping[str, tuple[str, str, str]] = {
    "configMap": ("name", CONFIG_MAP, "configmap"),
    "secret": ("secretName", SECRET, "secret"),
}


class ReferenceFailure(ValueError):
    """A reference the pod cannot start without; str() is the message kubelet shows."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileProjection:
    data: bytes
    mode: int
    uid: int = -1  # the file's owner; -1: the writer's (root)
    gid: int = -1


def namespace_of(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("namespace") or "default")


def _containers(pod: Obj) -> Iterator[Obj]:
    spec = pod.get("spec") or {}
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def _volume_refs(volume: Obj) -> Iterator[tuple[str, str]]:
    for kind, (field, obj_kind, _word) in _REF_FIELDS.items():
        if isinstance(volume.get(kind), dict) and volume[kind].get(field):
            yield obj_kind, str(volume[kind][field])
    for source in (volume.get("projected") or {}).get("sources") or []:
        for kind, (_field, obj_kind, _word) in _REF_FIELDS.items():
            if isinstance(source.get(kind), dict) and source[kind].get("name"):
                yield obj_kind, str(source[kind]["name"])


def _env_refs(container: Obj) -> Iterator[tuple[str, str]]:
    for item in container.get("env") or []:
        value_from = item.get("valueFrom") or {}
        if (value_from.get("configMapKeyRef") or {}).get("name"):
            yield CONFIG_MAP, str(value_from["configMapKeyRef"]["name"])
        if (value_from.get("secretKeyRef") or {}).get("name"):
            yield SECRET, str(value_from["secretKeyRef"]["name"])
    for source in container.get("envFrom") or []:
        if (source.get("configMapRef") or {}).get("name"):
            yield CONFIG_MAP, str(source["configMapRef"]["name"])
        if (source.get("secretRef") or {}).get("name"):
            yield SECRET, str(source["secretRef"]["name"])


def pod_references(pod: Obj) -> frozenset[ObjectKey]:
    """Every ConfigMap and Secret the pod names, optional or not (the node authorizer's graph
    edges: volumes, projected sources, env valueFrom and envFrom)."""
    namespace = namespace_of(pod)
    refs = [ref for v in (pod.get("spec") or {}).get("volumes") or [] for ref in _volume_refs(v)]
    refs += [ref for c in _containers(pod) for ref in _env_refs(c)]
    return frozenset((kind, namespace, name) for kind, name in refs)


def _b64(value: object, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ReferenceFailure(f"{where}: illegal base64 data") from e


def object_data(obj: Obj) -> dict[str, bytes]:
    """The key -> bytes of a ConfigMap (data, binaryData) or Secret (data base64, stringData
    over it as the API server merges them)."""
    name = f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
    out: dict[str, bytes] = {}
    if obj.get("kind") == SECRET:
        for key, value in (obj.get("data") or {}).items():
            out[str(key)] = _b64(value, f"{name}: data.{key}")
        for key, value in (obj.get("stringData") or {}).items():
            out[str(key)] = str(value).encode()
        return out
    for key, value in (obj.get("data") or {}).items():
        out[str(key)] = str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        out[str(key)] = _b64(value, f"{name}: binaryData.{key}")
    return out


def lookup(
    objects: Objects, *, kind: str, namespace: str, name: str, optional: bool
) -> Mapping[str, bytes] | None:
    """The object's data; None when it is absent and optional; ReferenceFailure otherwise."""
    data = objects.get((kind, namespace, name))
    if data is None and not optional:
        raise ReferenceFailure(f'{kind.lower()} "{name}" not found')
    return data


def format_map(values: Mapping[str, str]) -> str:
    """Labels or annotations as the downward API writes them: sorted `k="v"` lines."""
    return "\n".join(f"{k}={json.dumps(values[k], ensure_ascii=False)}" for k in sorted(values))


def field_value(pod: Obj, path: str) -> str:
    """A downwardAPI volume item's fieldRef (metadata.name/namespace/uid, labels, annotations,
    one label or annotation)."""
    meta = pod.get("metadata") or {}
    if path in VOLUME_FIELD_PATHS:
        key = path.split(".", 1)[1]
        return namespace_of(pod) if key == "namespace" else str(meta.get(key, ""))
    match = _MAP_REF.match(path)
    if match is None:
        raise ReferenceFailure(f"unsupported fieldPath: {path}")
    values = {str(k): str(v) for k, v in (meta.get(match.group(1)) or {}).items()}
    return values.get(match.group(2), "") if match.group(2) else format_map(values)


def resource_value(
    pod: Obj, ref: Obj, *, container_name: str, allocatable: Mapping[str, str]
) -> str:
    """A resourceFieldRef (limits/requests cpu, memory, ephemeral-storage) divided by its
    divisor and rounded up; an unset limit is the node's allocatable (kubelet's
    MergeContainerResourceLimits), an unset request the limit's value if set, else 0."""
    name = str(ref.get("containerName") or container_name)
    resource = str(ref.get("resource", ""))
    container = next((c for c in _containers(pod) if c.get("name") == name), None)
    if container is None:
        raise ReferenceFailure(f"resourceFieldRef: container {name!r} not found")
    kind, _, what = resource.partition(".")
    if kind not in ("limits", "requests") or what not in ("cpu", "memory", "ephemeral-storage"):
        raise ReferenceFailure(f"unsupported container resource: {resource}")
    resources = container.get("resources") or {}
    limits = resources.get("limits") or {}
    value = (resources.get(kind) or {}).get(what)
    if value is None:
        value = limits.get(what, "0") if kind == "requests" else allocatable.get(what, "0")
    divisor = parse_quantity(str(ref.get("divisor") or "1"))
    if divisor <= 0:
        raise ReferenceFailure(f"resourceFieldRef {resource}: divisor must be positive")
    return str(math.ceil(parse_quantity(value) / divisor))


def _check_path(path: str, volume: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or ".." in parts or parts[0].startswith(".."):
        raise ReferenceFailure(f'volume "{volume}": invalid path {path!r}')
    return path


def _keyed(
    source: Obj,
    data: Mapping[str, bytes] | None,
    *,
    volume: str,
    word: str,
    default_mode: int,
) -> dict[str, FileProjection]:
    """The files of a configMap or secret source: its items, or all of its keys."""
    if data is None:
        return {}
    items = source.get("items") or []
    if not items:
        return {k: FileProjection(data=v, mode=default_mode) for k, v in data.items()}
    out: dict[str, FileProjection] = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in data:
            if source.get("optional"):
                continue
            raise ReferenceFailure(f"{word} references non-existent config key: {key}")
        mode = item.get("mode")
        out[_check_path(str(item.get("path") or key), volume)] = FileProjection(
            data=data[key], mode=default_mode if mode is None else int(mode)
        )
    return out


def _downward(
    pod: Obj, source: Obj, *, volume: str, default_mode: int, allocatable: Mapping[str, str]
) -> dict[str, FileProjection]:
    out: dict[str, FileProjection] = {}
    for item in source.get("items") or []:
        path = _check_path(str(item.get("path", "")), volume)
        if item.get("fieldRef"):
            text = field_value(pod, str((item["fieldRef"] or {}).get("fieldPath", "")))
        elif item.get("resourceFieldRef"):
            text = resource_value(
                pod, item["resourceFieldRef"], container_name="", allocatable=allocatable
            )
        else:
            raise ReferenceFailure(
                f'volume "{volume}": item {path}: no fieldRef or resourceFieldRef'
            )
        mode = item.get("mode")
        out[path] = FileProjection(
            data=text.encode(), mode=default_mode if mode is None else int(mode)
        )
    return out


def _source_files(
    pod: Obj,
    kind: str,
    source: Obj,
    objects: Objects,
    *,
    volume: str,
    default_mode: int,
    allocatable: Mapping[str, str],
    name_field: str,
) -> dict[str, FileProjection]:
    if kind == "downwardAPI":
        return _downward(
            pod, source, volume=volume, default_mode=default_mode, allocatable=allocatable
        )
    _field, obj_kind, word = _REF_FIELDS[kind]
    data = lookup(
        objects,
        kind=obj_kind,
        namespace=namespace_of(pod),
        name=str(source.get(name_field, "")),
        optional=bool(source.get("optional")),
    )
    return _keyed(source, data, volume=volume, word=word, default_mode=default_mode)


def fs_user(pod: Obj) -> int | None:
    """kubelet's FsUserFrom: the runAsUser every container runs as, when they all set the same
    one (the container's, else the pod's); None otherwise."""
    pod_user = ((pod.get("spec") or {}).get("securityContext") or {}).get("runAsUser")
    found: int | None = None
    for container in _containers(pod):
        user = (container.get("securityContext") or {}).get("runAsUser", pod_user)
        if user is None or (found is not None and int(user) != found):
            return None
        found = int(user)
    return found


def _token_file(
    pod: Obj, source: Obj, tokens: Tokens, *, volume: str, default_mode: int
) -> dict[str, FileProjection]:
    """A serviceAccountToken source's file, as kubelet writes it: the volume's defaultMode, or
    0600 owned by the pods' runAsUser (group fsGroup, 0640) when those are set."""
    spec = token_spec(pod, source)
    token = tokens.get(spec)
    if token is None:
        raise ReferenceFailure(f"failed to fetch token: none fetched for {spec.describe()}")
    path = _check_path(str(source.get("path", "")), volume)
    user = fs_user(pod)
    group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    if user is None and group is None:
        return {path: FileProjection(data=token.encode(), mode=default_mode)}
    return {
        path: FileProjection(
            data=token.encode(),
            mode=0o600 if group is None else 0o640,
            uid=-1 if user is None else user,
            gid=-1 if group is None else int(group),
        )
    }


def volume_files(
    pod: Obj,
    volume: Obj,
    objects: Objects,
    *,
    allocatable: Mapping[str, str],
    tokens: Tokens | None = None,
) -> dict[str, FileProjection]:
    """The files (relative path -> data and mode) of a configMap, secret, downwardAPI or
    projected volume. ReferenceFailure for a missing non-optional object or key, a token not
    in `tokens`, or a bad path."""
    name = str(volume.get("name", ""))
    kind = next(k for k in PROJECTED_KINDS if k in volume)
    body = volume.get(kind) or {}
    mode = body.get("defaultMode")
    default_mode = DEFAULT_MODE if mode is None else int(mode)
    if kind != "projected":
        name_field = _REF_FIELDS[kind][0] if kind in _REF_FIELDS else ""
        return _source_files(
            pod,
            kind,
            body,
            objects,
            volume=name,
            default_mode=default_mode,
            allocatable=allocatable,
            name_field=name_field,
        )
    out: dict[str, FileProjection] = {}
    for source in body.get("sources") or []:
        if isinstance(source.get("serviceAccountToken"), dict):
            out.update(
                _token_file(
                    pod,
                    source["serviceAccountToken"],
                    tokens or {},
                    volume=name,
                    default_mode=default_mode,
                )
            )
        for kind_ in ("configMap", "secret", "downwardAPI"):
            if kind_ in source:
                out.update(
                    _source_files(
                        pod,
                        kind_,
                        source[kind_] or {},
                        objects,
                        volume=name,
                        default_mode=default_mode,
                        allocatable=allocatable,
                        name_field="name",
                    )
                )
    return out


def is_projected_volume(volume: Obj) -> bool:
    """A volume whose files the agent writes (configMap, secret, downwardAPI, projected)."""
    return any(k in volume for k in PROJECTED_KINDS)
