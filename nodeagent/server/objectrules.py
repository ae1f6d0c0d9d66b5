"""PURE rules the registry applies per kind: create-time status, server-owned metadata, pod
grace periods, finalizer names, and the wording of Invalid errors. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import FieldError, Invalid, NotFound
from nodeagent.api.resources import BY_NAME, Resource

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")
FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"
NAMESPACE_FINALIZER = "kubernetes"  # held until the namespace is empty (cascade.py)
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
DEFAULT_POD_GRACE_SECONDS = 30

# The DaemonSet status fields clients require (the Python client fails without them).
DAEMONSET_STATUS_ZERO = {
    "currentNumberScheduled": 0,
    "desiredNumberScheduled": 0,
    "numberMisscheduled": 0,
    "numberReady": 0,
}

# What a freshly created object's status is reset to, per kind (the API server's
# PrepareForCreate); kinds not named keep the status they were posted with.
CREATE_STATUS: dict[str, Callable[[Obj], Obj]] = {
    "DaemonSet": lambda _o: dict(DAEMONSET_STATUS_ZERO),
    "Pod": lambda o: {"phase": "Pending", **({"qosClass": q} if (q := qos_class(o)) else {})},
    "Namespace": lambda _o: {"phase": "Active"},
}

# Metadata only the server sets: kept from the stored object on every update.
SERVER_OWNED_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)


# kube-apiserver's DefaultTolerationSeconds admission: every pod that does not tolerate these
# NoExecute taints already tolerates them for 5 minutes (its flags' defaults).
DEFAULT_TOLERATION_SECONDS = 300
DEFAULT_TOLERATED_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def add_default_tolerations(pod: Obj) -> None:
    """DefaultTolerationSeconds, in place: for each of the not-ready and unreachable taints
    that no toleration of the pod covers (its key or an empty key, effect NoExecute or empty),
    a toleration of it for 300 s. Daemon pods already tolerate both, forever."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return  # validation names it
    present = [t for t in tolerations if isinstance(t, dict)]
    added = [
        {
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        }
        for key in DEFAULT_TOLERATED_TAINTS
        if not any(
            t.get("key", "") in (key, "") and t.get("effect", "") in ("NoExecute", "")
            for t in present
        )
    ]
    if added:
        spec["tolerations"] = [*tolerations, *added]


def qos_class(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    resources = [c.get("resources") or {} for c in containers if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(k) is not None
        and (r.get("requests") or {}).get(k, (r.get("limits") or {}).get(k))
        == (r.get("limits") or {}).get(k)
        for r in resources
        for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def resource_of(name: str) -> Resource:
    r = BY_NAME.get(name)
    if r is None:
        raise NotFound("the server could not find the requested resource")
    return r


def meta_of(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def invalid(r: Resource, name: str, errors: list[FieldError]) -> Invalid:
    text = "; ".join(str(e) for e in errors)
    if len(errors) > 1:
        text = "[" + ", ".join(str(e) for e in errors) + "]"
    kind = f"{r.kind}.{r.group}" if r.group else r.kind
    return Invalid(
        f'{kind} "{name}" is invalid: {text}', kind=r.kind, name=name, group=r.group, causes=errors
    )


def rv_of(obj: Obj) -> str:
    return str(meta_of(obj).get("resourceVersion") or "")


def same_but_version(a: Obj, b: Obj) -> bool:
    return _without_version(a) == _without_version(b)


def _without_version(obj: Obj) -> Obj:
    """A shallow view of `obj` whose metadata lacks resourceVersion (nothing is copied deep)."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}


def owner_uids(obj: Obj) -> list[str]:
    return [str(ref.get("uid")) for ref in meta_of(obj).get("ownerReferences") or []]


def finished(r: Resource, obj: Obj) -> bool:
    """A terminating object with no finalizers left (and, for pods, no grace left) goes."""
    meta = meta_of(obj)
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    return r.kind != "Pod" or not meta.get("deletionGracePeriodSeconds")


def pod_grace(pod: Obj, grace: int | None) -> int:
    """Unbound and finished pods go at once; bound ones get their termination grace."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    if grace is None:
        grace = int(spec.get("terminationGracePeriodSeconds", DEFAULT_POD_GRACE_SECONDS))
    return max(0, grace)
