"""Reading Kubernetes object metadata, conditions and pod/node status from plain dicts.

Pure: every function takes a JSON-shaped dict and never mutates it (set_condition returns a
new list). Missing or wrongly typed fields read as empty, never raise.
"""

from __future__ import annotations

from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import parse_time


def _map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def metadata_of(obj: Obj) -> Obj:
    return _map(obj.get("metadata"))


def name_of(obj: Obj) -> str:
    return _str(metadata_of(obj).get("name"))


def namespace_of(obj: Obj) -> str:
    """The namespace, "" for cluster-scoped objects (or when unset)."""
    return _str(metadata_of(obj).get("namespace"))


def uid_of(obj: Obj) -> str:
    return _str(metadata_of(obj).get("uid"))


def labels_of(obj: Obj) -> dict[str, str]:
    return {k: v for k, v in _map(metadata_of(obj).get("labels")).items() if isinstance(v, str)}


def annotations_of(obj: Obj) -> dict[str, str]:
    annotations = _map(metadata_of(obj).get("annotations"))
    return {k: v for k, v in annotations.items() if isinstance(v, str)}


# On a static pod's copy on the server (kubelet's ConfigMirrorAnnotationKey): its config hash.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def is_mirror_pod(pod: Obj) -> bool:
    """The server's copy of a node's static pod (a mirror pod), not a pod of its own."""
    return MIRROR_ANNOTATION in annotations_of(pod)


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with `controller: true`, or None."""
    refs = metadata_of(obj).get("ownerReferences")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """True when obj's controller reference points at owner's uid (metav1.IsControlledBy)."""
    ref = controller_ref(obj)
    return ref is not None and bool(uid_of(owner)) and ref.get("uid") == uid_of(owner)


def _conditions(conditions_or_status: Obj | list[Any] | None) -> list[Any]:
    if isinstance(conditions_or_status, dict):
        found = conditions_or_status.get("conditions")
        return found if isinstance(found, list) else []
    return conditions_or_status if isinstance(conditions_or_status, list) else []


def get_condition(conditions_or_status: Obj | list[Any] | None, type_: str) -> Obj | None:
    """The condition of that type from a status dict or a conditions list, or None."""
    for cond in _conditions(conditions_or_status):
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


def set_condition(conditions: list[Any], cond: Obj, now_rfc3339: str) -> list[Any]:
    """A new list with cond replacing the one of its type (or appended).

    lastTransitionTime is kept when the status did not change (whatever cond says); when it
    changed, or cond is new, it is cond's own lastTransitionTime if given, else now.
    """
    new = dict(cond)
    old = get_condition(conditions, _str(cond.get("type")))
    unchanged = old is not None and old.get("status") == new.get("status")
    if unchanged and old is not None and "lastTransitionTime" in old:
        new["lastTransitionTime"] = old["lastTransitionTime"]
    elif "lastTransitionTime" not in new:
        new["lastTransitionTime"] = now_rfc3339
    out: list[Any] = []
    replaced = False
    for existing in conditions:
        if isinstance(existing, dict) and existing.get("type") == new.get("type"):
            if not replaced:
                out.append(new)
                replaced = True
            continue
        out.append(existing)
    if not replaced:
        out.append(new)
    return out


def pod_phase(pod: Obj) -> str:
    """status.phase, "Pending" when unset."""
    return _str(_map(pod.get("status")).get("phase")) or "Pending"


def is_pod_ready(pod: Obj) -> bool:
    cond = get_condition(_map(pod.get("status")), "Ready")
    return cond is not None and cond.get("status") == "True"


def is_pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready, and Ready for more than min_ready_seconds by the condition's lastTransitionTime
    (podutil.IsPodAvailable)."""
    cond = get_condition(_map(pod.get("status")), "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    try:
        since = parse_time(_str(cond.get("lastTransitionTime")))
    except ValueError:
        return False
    return since + min_ready_seconds < now


def is_pod_terminating(pod: Obj) -> bool:
    """The pod has a deletionTimestamp (it is being deleted gracefully)."""
    return bool(metadata_of(pod).get("deletionTimestamp"))


def node_ready_status(node: Obj) -> str:
    """The Ready condition's status: "True", "False" or "Unknown" (Unknown when absent)."""
    cond = get_condition(_map(node.get("status")), "Ready")
    status = _str(cond.get("status")) if cond else ""
    return status if status in ("True", "False") else "Unknown"
