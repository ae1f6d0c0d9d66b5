"""PURE the desired pod as the plan sees it: the pod, its spec hash, and what is read of it on
every pass (PodShape), computed once per pod object."""

from __future__ import annotations

from dataclasses import dataclass, field

from nodeagent.api.bodies import Obj

DEFAULT_GRACE = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class PodShape:
    """What the plan reads of a pod spec on every pass, read once per pod (the steady state's
    fast path compares containers against it without walking the spec)."""

    app_names: frozenset[str]
    probed: frozenset[str]  # app containers with a liveness or startup probe
    host_network: bool
    has_init: bool

    @classmethod
    def of(cls, pod: Obj) -> PodShape:
        spec = pod.get("spec") or {}
        apps = spec.get("containers") or []
        return cls(
            app_names=frozenset(c["name"] for c in apps),
            probed=frozenset(
                c["name"] for c in apps if "livenessProbe" in c or "startupProbe" in c
            ),
            host_network=bool(spec.get("hostNetwork")),
            has_init=bool(spec.get("initContainers")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredPod:
    """A pod to run (or, terminating, to stop). Its pod dict is never changed in place: the
    sources send new objects, so what is derived from it here is computed once."""

    pod: Obj  # defaulted Pod as its source gave it
    spec_hash: str  # hash of pod.spec: a container from another hash is replaced
    terminating: bool = False  # no longer desired by any source: stop and remove
    source: str = "file"  # which source wants it (labels the containers)
    deleting: bool = field(init=False, repr=False, compare=False)
    shape: PodShape = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        meta = self.pod.get("metadata") or {}
        deleting = self.terminating or bool(meta.get("deletionTimestamp"))
        object.__setattr__(self, "deleting", deleting)  # frozen: derived fields set once
        object.__setattr__(self, "shape", PodShape.of(self.pod))

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    @property
    def grace_seconds(self) -> int:
        meta, spec = self.pod["metadata"], self.pod.get("spec", {})
        if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") is not None:
            return int(meta["deletionGracePeriodSeconds"])
        grace = spec.get("terminationGracePeriodSeconds")
        return DEFAULT_GRACE if grace is None else int(grace)
