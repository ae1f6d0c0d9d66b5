"""PURE pod garbage collection decision: which pods go because their node is gone.

`orphaned_pods` (pods, node names, when each missing node was first noticed, now, quarantine
-> pods to delete, nodes to confirm gone); podgc.py is the loop that reads and deletes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nodeagent.api import meta
from nodeagent.api.bodies import Obj

QUARANTINE_SECONDS = 40.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GCPlan:
    delete: list[Obj]
    check_nodes: list[str]  # confirm these are gone with a fresh read before deleting
    missing_since: dict[str, float]


def orphaned_pods(
    pods: Iterable[Obj],
    node_names: set[str],
    *,
    missing_since: Mapping[str, float],
    now: float,
    quarantine: float = QUARANTINE_SECONDS,
) -> GCPlan:
    """Pods whose spec.nodeName names a node missing for at least `quarantine` seconds, and
    unscheduled pods already being deleted."""
    delete: list[Obj] = []
    check: set[str] = set()
    seen_missing: dict[str, float] = {}
    for pod in pods:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if not node:
            if meta.is_pod_terminating(pod):
                delete.append(pod)
            continue
        if node in node_names:
            continue
        since = seen_missing.setdefault(node, missing_since.get(node, now))
        if now - since >= quarantine:
            delete.append(pod)
            check.add(node)
    return GCPlan(delete=delete, check_nodes=sorted(check), missing_since=seen_missing)
