"""PURE: the DaemonSet status as kube-controller-manager computes it (updateDaemonSetStatus)."""

from __future__ import annotations

from collections.abc import Iterable

from nodeagent.api import meta, scheduling
from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.daemonset.plan import is_pod_updated, pod_order, pods_by_node

COUNTS = (
    "currentNumberScheduled",
    "desiredNumberScheduled",
    "numberMisscheduled",
    "numberReady",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
)


def compute_status(
    *,
    ds: Obj,
    nodes: Iterable[Obj],
    daemon_pods: Iterable[Obj],
    hash_: str,
    now: float,
    observed: bool,
) -> Obj:
    """The new .status: counts over the node's oldest daemon pod; observedGeneration moves to
    metadata.generation only when `observed` (the sync acted on this generation)."""
    by_node = pods_by_node(daemon_pods)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    counts = dict.fromkeys(COUNTS, 0)
    placement = scheduling.daemon_placement(ds)
    for node in nodes:
        pods = sorted(by_node.get(meta.name_of(node), []), key=pod_order)
        if not placement.on(node).should_run:
            counts["numberMisscheduled"] += 1 if pods else 0
            continue
        counts["desiredNumberScheduled"] += 1
        if not pods:
            continue
        counts["currentNumberScheduled"] += 1
        oldest = pods[0]
        if meta.is_pod_ready(oldest):
            counts["numberReady"] += 1
            if meta.is_pod_available(oldest, min_ready, now):
                counts["numberAvailable"] += 1
        if is_pod_updated(oldest, hash_):
            counts["updatedNumberScheduled"] += 1
    counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
    status: Obj = dict(ds.get("status") or {})
    status.update(counts)
    if observed:
        status["observedGeneration"] = (ds.get("metadata") or {}).get("generation") or 1
    return status


def status_changed(ds: Obj, status: Obj) -> bool:
    return (ds.get("status") or {}) != status
