"""PURE merge of the sources' complete sets into one desired set, and "which sources were seen".

As kubelet's podStorage: each SourceUpdate replaces its source's set. A namespace/name claimed
by two sources goes to the one that claimed it first; the other's pod is rejected with a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nodeagent.agent.sources.update import Rejected, SourceName, SourceUpdate
from nodeagent.api.bodies import Obj

PodKey = tuple[str, str]  # (namespace, name)


def pod_key(pod: Obj) -> PodKey:
    meta = pod["metadata"]
    return (meta.get("namespace") or "default", meta["name"])


@dataclass(frozen=True, slots=True, kw_only=True)
class MergedPod:
    pod: Obj
    source: SourceName


@dataclass(slots=True)
class PodConfig:
    """The merged view; `apply` returns whether the desired set or rejections changed."""

    _sets: dict[SourceName, tuple[Obj, ...]] = field(default_factory=dict)
    _source_rejected: dict[SourceName, tuple[Rejected, ...]] = field(default_factory=dict)
    _claims: dict[PodKey, SourceName] = field(default_factory=dict)
    seen: set[SourceName] = field(default_factory=set)

    def apply(self, update: SourceUpdate) -> bool:
        before = (self.desired(), self.rejected())
        self.seen.add(update.source)
        self._sets[update.source] = update.pods
        self._source_rejected[update.source] = update.rejected
        wanted = {pod_key(p) for p in update.pods}
        for key, owner in list(self._claims.items()):
            if owner == update.source and key not in wanted:
                del self._claims[key]
        for key in wanted:
            self._claims.setdefault(key, update.source)
        # a claim released by one source passes to another that still wants the name
        for source, pods in self._sets.items():
            for p in pods:
                self._claims.setdefault(pod_key(p), source)
        return (self.desired(), self.rejected()) != before

    def desired(self) -> dict[str, MergedPod]:
        """uid -> pod, for the pods whose names their source owns."""
        out: dict[str, MergedPod] = {}
        for source, pods in self._sets.items():
            for p in pods:
                if self._claims.get(pod_key(p)) == source:
                    out[str(p["metadata"]["uid"])] = MergedPod(pod=p, source=source)
        return out

    def rejected(self) -> list[Rejected]:
        """Every source's rejected manifests, plus pods that lost a name conflict."""
        out = [r for rs in self._source_rejected.values() for r in rs]
        for source, pods in self._sets.items():
            for p in pods:
                key = pod_key(p)
                owner = self._claims.get(key)
                if owner is not None and owner != source:
                    origin = _origin(p, source)
                    msg = (
                        f"pod {key[0]}/{key[1]} from source {source} conflicts with the pod of "
                        f"the same name from source {owner}, which was seen first; ignored"
                    )
                    out.append(Rejected(origin=origin, error=msg))
        return out


def _origin(pod: Obj, source: SourceName) -> str:
    annotations = pod["metadata"].get("annotations") or {}
    return str(annotations.get("nodeagent.io/manifest") or f"{source}:{pod_key(pod)[1]}")
