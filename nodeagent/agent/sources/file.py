"""The manifest directory source: static pods from files, watched by inotify plus a full rescan.

A file may carry ConfigMaps and Secrets beside its Pod or DaemonSet; they are sent with the set
(`SourceUpdate.objects`, by file) and serve that file's pods only. A file with a Secret is read
only if its mode is 0600 (or tighter): otherwise it is that file's error.

Pure parts (which names are read, file text -> pods or errors) are free functions; the
DirectorySource class holds the last good pods per file and does the I/O. A file that stops
parsing keeps the pods it gave before and is reported; a removed file takes its pods with it.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from nodeagent.agent.sources.inotify import DirectoryWatch
from nodeagent.agent.sources.update import Rejected, SourceName, SourceUpdate
from nodeagent.api.bodies import Obj
from nodeagent.api.decode import DecodeError, decode_documents
from nodeagent.api.defaults import default_daemonset, default_object, default_pod
from nodeagent.api.hashing import spec_hash, static_pod_uid
from nodeagent.api.limits import MAX_MANIFEST_BYTES
from nodeagent.api.naming import static_pod_name
from nodeagent.api.scheduling import add_daemonset_tolerations, node_should_run
from nodeagent.api.typecheck import type_errors
from nodeagent.api.validation import validate_object, validate_pod

log = structlog.get_logger()
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


def _read_manifest(path: Path) -> str:
    """The file's text; OSError past MAX_MANIFEST_BYTES (kubelet's maxConfigLength)."""
    with path.open("rb") as f:
        data = f.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise OSError(f"the file is larger than {MAX_MANIFEST_BYTES} bytes")
    return data.decode("utf-8")


@dataclass(slots=True, kw_only=True)
class DirectorySource:
    """Reads the manifest directory; keeps each file's last good pods."""

    directory: Path
    node: Obj
    last_good: dict[str, tuple[Obj, ...]] = field(default_factory=dict)
    last_objects: dict[str, tuple[Obj, ...]] = field(default_factory=dict)  # ConfigMaps, Secrets
    _reported: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # origin -> (the text last read, what it parsed to): an unchanged file is not parsed again
    _parsed: dict[str, tuple[str, Parsed]] = field(default_factory=dict)

    def scan(self) -> SourceUpdate:
        """Read every manifest file now: the complete SET of this source.

        An unreadable directory gives an empty SET (as kubelet: a missing path is no error)."""
        try:
            names = sorted(n for n in os.listdir(self.directory) if is_manifest_name(n))
        except FileNotFoundError:
            names = []
        except OSError as e:
            log.warning("manifest_dir_unreadable", path=str(self.directory), error=str(e))
            names = []
        seen: set[str] = set()
        rejected: list[Rejected] = []
        for name in names:
            path = self.directory / name
            origin = str(path)
            if not path.is_file():
                continue
            seen.add(origin)
            try:
                text = _read_manifest(path)
            except (OSError, UnicodeDecodeError) as e:
                rejected.append(self._reject(origin, (f"{origin}: cannot read: {e}",)))
                continue
            known = self._parsed.get(origin)
            if known is not None and known[0] == text:
                parsed = known[1]
            else:
                parsed = parse_manifest(text, origin=origin, node=self.node)
                self._parsed[origin] = (text, parsed)
            errors = parsed.errors
            if not errors and parsed.has_secret:
                mode_error = secret_mode_error(origin, path.stat().st_mode)
                errors = (mode_error,) if mode_error else ()
            if errors:
                rejected.append(self._reject(origin, errors))
            else:
                if self._reported.pop(origin, None) is not None:
                    log.info("manifest_accepted", file=origin)
                self.last_good[origin] = parsed.pods
                self.last_objects[origin] = parsed.objects
        for origin in set(self.last_good) - seen:
            del self.last_good[origin]
            self.last_objects.pop(origin, None)
        for origin in set(self._reported) - seen:
            del self._reported[origin]
        for origin in set(self._parsed) - seen:
            del self._parsed[origin]
        pods = tuple(p for origin in sorted(self.last_good) for p in self.last_good[origin])
        objects = tuple((o, self.last_objects[o]) for o in sorted(self.last_objects))
        return SourceUpdate(
            source=SourceName.FILE, pods=pods, rejected=tuple(rejected), objects=objects
        )

    def _reject(self, origin: str, errors: tuple[str, ...]) -> Rejected:
        if self._reported.get(origin) != errors:
            self._reported[origin] = errors
            kept = len(self.last_good.get(origin, ()))
            for error in errors:
                log.warning("manifest_rejected", file=origin, error=error, kept_pods=kept)
        return Rejected(origin=origin, error="\n".join(errors))


async def run_file_source(
    *,
    directory: str,
    node: Obj,
    queue: asyncio.Queue[SourceUpdate],
    rescan_interval: float = 20.0,
    debounce: float = 0.1,
) -> None:
    """Send a full SourceUpdate at start and whenever the directory's result changes."""
    source = DirectorySource(directory=Path(directory), node=node)
    wake = asyncio.Event()
    watch: DirectoryWatch | None = None
    last: tuple[object, ...] | None = None
    try:
        while True:
            if watch is not None and watch.gone:  # the directory went: watch it when it is back
                watch = None
            if watch is None and os.path.isdir(directory):
                try:
                    watch = DirectoryWatch(Path(directory), wake.set, asyncio.get_running_loop())
                except OSError as e:
                    log.warning("manifest_watch_failed", path=directory, error=str(e))
            update = await asyncio.to_thread(source.scan)
            if (update.pods, update.rejected, update.objects) != last:
                last = (update.pods, update.rejected, update.objects)
                await queue.put(update)
            try:
                await asyncio.wait_for(wake.wait(), timeout=rescan_interval)
                await asyncio.sleep(debounce)  # let a burst of writes settle
            except TimeoutError:
                pass
            wake.clear()
    finally:
        if watch is not None:
            watch.stop()
