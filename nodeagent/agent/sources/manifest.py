"""PURE: a manifest's text -> the static pods it asks for on this node, or every error in it.

Which names in the manifest directory are read, how a Pod or a DaemonSet (run here only if it
would be scheduled here) becomes a static pod with kubelet's name, uid and config annotations,
the ConfigMaps and Secrets a file carries for its own pods, and the mode a file with a Secret
must have. The file source (file.py) and the URL source (url.py) do the reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodeagent.agent.sources.update import SourceName
from nodeagent.api.bodies import Obj
from nodeagent.api.decode import DecodeError, decode_documents
from nodeagent.api.defaults import default_daemonset, default_object, default_pod
from nodeagent.api.hashing import spec_hash, static_pod_uid
from nodeagent.api.naming import static_pod_name
from nodeagent.api.scheduling import add_daemonset_tolerations, node_should_run
from nodeagent.api.typecheck import type_errors
from nodeagent.api.validation import validate_object, validate_pod

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
ORIGIN_ANNOTATION = "nodeagent.io/manifest"  # where a static pod came from (file path or URL)
CONFIG_KINDS = frozenset({"ConfigMap", "Secret"})  # carried beside the pods, for them only


def is_manifest_name(name: str) -> bool:
    """Only `*.yaml`, `*.yml`, `*.json`, never hidden files (so `.x.swp`, `x.yaml~`,
    `x.yaml.bak` and `.#x.yaml` are never read)."""
    return not name.startswith(".") and name.endswith(MANIFEST_SUFFIXES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    pods: tuple[Obj, ...] = ()
    errors: tuple[str, ...] = ()  # "ORIGIN:LINE:COL: message" or "ORIGIN: field.path: message"
    skipped: tuple[str, ...] = ()  # DaemonSets that do not run on this node (not errors)
    objects: tuple[Obj, ...] = ()  # the file's ConfigMaps and Secrets (for its pods only)

    @property
    def has_secret(self) -> bool:
        return any(o.get("kind") == "Secret" for o in self.objects)


def _static_pod(pod: Obj, *, origin: str, source: SourceName, node_name: str, index: int) -> Obj:
    """Name, uid, node and config annotations of a static pod, as kubelet sets them."""
    meta = pod["metadata"]
    content = spec_hash({"metadata": meta, "spec": pod.get("spec")})
    uid = static_pod_uid(origin if index == 0 else f"{origin}#{index}", content, node_name)
    annotations = {
        **(meta.get("annotations") or {}),
        "kubernetes.io/config.source": source.value,
        "kubernetes.io/config.hash": uid,
        ORIGIN_ANNOTATION: origin,
    }
    return {
        **pod,
        "metadata": {
            **meta,
            "name": static_pod_name(meta["name"], node_name),
            "uid": uid,
            "annotations": annotations,
        },
        "spec": {**pod["spec"], "nodeName": node_name},
    }


def _with_namespace(obj: Obj) -> Obj:
    """metadata.namespace "default" when the document names none (as a pod's)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or meta.get("namespace"):
        return obj
    return {**obj, "metadata": {**meta, "namespace": "default"}}


def _pod_of_daemonset(ds: Obj) -> Obj:
    template = ds.get("spec", {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    meta: Obj = {"name": ds["metadata"]["name"], "namespace": ds["metadata"].get("namespace")}
    for key in ("labels", "annotations"):
        if tmeta.get(key):
            meta[key] = dict(tmeta[key])
    spec = add_daemonset_tolerations(dict(template.get("spec") or {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _errors(origin: str, errs: list[Any]) -> list[str]:
    return [f"{origin}: {e}" for e in errs]


def parse_manifest(
    text: str, *, origin: str, node: Obj, source: SourceName = SourceName.FILE
) -> Parsed:
    """File text -> the static pods it asks for on `node`, or every error with its place."""
    node_name = node["metadata"]["name"]
    try:
        docs = decode_documents(text, source=origin)
    except DecodeError as e:
        return Parsed(errors=(str(e),))
    pods: list[Obj] = []
    errors: list[str] = []
    skipped: list[str] = []
    objects: list[Obj] = []
    for index, doc in enumerate(docs):
        kind = doc.get("kind")
        wrong_types = type_errors(doc)  # before defaulting, which reads the fields it needs
        if wrong_types and kind in ("Pod", "DaemonSet"):
            errors += _errors(origin, wrong_types)
            continue
        if kind in CONFIG_KINDS:
            if wrong_types:
                errors += _errors(origin, wrong_types)
                continue
            doc = default_object(_with_namespace(doc))  # a Secret's stringData into data
            object_errors = validate_object(doc)
            if object_errors:
                errors += _errors(origin, object_errors)
            else:
                objects.append(doc)
            continue
        if kind == "DaemonSet":
            doc = default_daemonset(doc)
            ds_errors = validate_object(doc)
            if ds_errors:
                errors += _errors(origin, ds_errors)
                continue
            if not node_should_run(node, doc).should_run:
                skipped.append(str(doc["metadata"]["name"]))
                continue
            doc = _pod_of_daemonset(doc)
        elif kind != "Pod":
            errors.append(
                f"{origin}: kind: Unsupported value: {kind!r}: "
                "supported: Pod, DaemonSet, ConfigMap, Secret"
            )
            continue
        pod = default_pod(doc)
        pod_errors = validate_pod(pod)
        if pod_errors:
            errors += _errors(origin, pod_errors)
            continue
        pods.append(
            _static_pod(pod, origin=origin, source=source, node_name=node_name, index=index)
        )
    if errors:
        return Parsed(errors=tuple(errors))  # the file is all or nothing
    return Parsed(pods=tuple(pods), skipped=tuple(skipped), objects=tuple(objects))


def secret_mode_error(origin: str, mode: int) -> str | None:
    """A file holding a Secret must be readable by its owner only (0600, or tighter)."""
    if mode & 0o077:
        return (
            f"{origin}: holds a Secret, so its mode must be 0600, not {mode & 0o777:04o} "
            f"(chmod 600 {origin})"
        )
    return None
