"""PURE: RollingUpdate decisions (kube-controller-manager daemon/update.go `rollingUpdate`).

Given the DS, the nodes and the DS's daemon pods, decide which old pods to delete (no surge)
or on which nodes to start a new pod next to the old one (surge), honouring maxUnavailable,
maxSurge and minReadySeconds, within the Scope the rollout guard allows (guard.py: pause,
halt, canary phase, unreachable nodes). OnDelete has no rollout: manage() replaces deleted pods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from nodeagent.api import meta, scheduling
from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.daemonset.plan import (
    is_pod_updated,
    is_terminating,
    name_of,
    pods_by_node,
)
from nodeagent.server.controllers.daemonset.strategy import surge_count, unavailable_count


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """Which nodes the rollout may touch now (decided by guard.py)."""

    stopped: bool = False  # paused or halted: no node takes the new revision
    skip: frozenset[str] = frozenset()  # unreachable nodes: neither replaced nor counted
    only: frozenset[str] | None = None  # canary phase: just these nodes (None: all)

    def may_update(self, node_name: str) -> bool:
        return not self.stopped and (self.only is None or node_name in self.only)


EVERYWHERE = Scope()


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutPlan:
    delete: list[Obj] = field(default_factory=list)
    create_on: list[str] = field(default_factory=list)


def _updated_and_old(pods: list[Obj], hash_: str) -> tuple[Obj | None, Obj | None, bool]:
    """findUpdatedPodsOnNode: at most one new and one old live pod, else not ok."""
    new: Obj | None = None
    old: Obj | None = None
    for pod in pods:
        if is_terminating(pod):
            continue
        if is_pod_updated(pod, hash_):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update(
    *,
    ds: Obj,
    nodes: Iterable[Obj],
    daemon_pods: Iterable[Obj],
    hash_: str,
    now: float,
    scope: Scope = EVERYWHERE,
) -> RolloutPlan:
    node_list = [n for n in nodes if name_of(n) not in scope.skip]
    by_node = {
        node: pods for node, pods in pods_by_node(daemon_pods).items() if node not in scope.skip
    }
    placement = scheduling.daemon_placement(ds)
    should_run = {name_of(n): placement.on(n).should_run for n in node_list}
    desired = sum(1 for run in should_run.values() if run)
    for node_name, run in should_run.items():
        if run:
            by_node.setdefault(node_name, [])
    max_surge = surge_count(ds, desired)
    max_unavailable = unavailable_count(ds, desired)
    if desired > 0 and max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1  # an impossible configuration: accept one unavailable, as k8s does
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        return bool(meta.is_pod_available(pod, min_ready, now))

    if max_surge == 0:
        # Without surge we delete just enough old pods to stay within maxUnavailable, and let
        # manage() create the new pods on those nodes.
        #
        # Assumptions:
        # * manage() allows no more than one pod per node, creates the new pods and handles
        #   failed pods
        # * deleted (terminating) pods do not count as unavailable, so that an update makes
        #   progress while nodes are down
        # * nodes in scope.skip (unreachable) are left out entirely: neither counted nor touched
        # Invariants:
        # * the number of unavailable pods (new or old) never exceeds maxUnavailable
        # * a node with an available old pod is a deletion candidate only within that budget
        # * an old pod that is not available is replaced at once (it adds no unavailability)
        # * only nodes scope.may_update() allows lose their old pod
        unavailable = 0
        replace_now: list[Obj] = []
        candidates: list[Obj] = []
        for node_name in sorted(by_node):
            new, old, ok = _updated_and_old(by_node[node_name], hash_)
            if not ok:
                unavailable += 1  # manage() cleans up the extra pods first
                continue
            if (old is None) == (new is None):
                unavailable += 1  # missing, or both: manage() creates or deletes
            elif new is not None:
                if not available(new):
                    unavailable += 1
            elif old is not None:
                if not available(old):
                    if scope.may_update(node_name):
                        replace_now.append(old)
                    unavailable += 1
                elif unavailable < max_unavailable and scope.may_update(node_name):
                    candidates.append(old)
        budget = max(0, min(max_unavailable - unavailable, len(candidates)))
        return RolloutPlan(delete=replace_now + candidates[:budget])

    # With surge we start a new pod beside an old one, up to maxSurge at once, and delete the
    # old pod once the new one is available.
    #
    # Assumptions:
    # * manage() allows at most two pods per node (one old, one new), creates pods on nodes
    #   that have none and handles failed pods
    # * deleted (terminating) pods do not count as unavailable
    # Invariants:
    # * a node whose old pod is unavailable gets its new pod at once (no surge budget used)
    # * an old available pod is deleted only when the new pod beside it is available
    # * no more than maxSurge new pods are being created next to available old pods at a time
    # * old pods on nodes that should no longer run the DS go only while at least
    #   desired - maxUnavailable pods stay available
    # * only nodes scope.may_update() allows get a new pod; one already started may finish
    delete: list[Obj] = []
    not_run_candidates: list[Obj] = []
    allowed: list[str] = []
    candidate_nodes: list[str] = []
    surging = 0
    available_count = 0
    for node_name in sorted(by_node):
        new, old, ok = _updated_and_old(by_node[node_name], hash_)
        if not ok:
            surging += 1
            continue
        if old is not None:
            available_count += 1 if available(old) else 0
        elif new is not None:
            available_count += 1 if available(new) else 0
        if old is None:
            continue
        if new is None:
            if not available(old):
                if not should_run.get(node_name, False):
                    delete.append(old)
                    continue
                if scope.may_update(node_name):
                    allowed.append(node_name)
            else:
                if not should_run.get(node_name, False):
                    not_run_candidates.append(old)
                    continue
                if surging >= max_surge or not scope.may_update(node_name):
                    continue
                candidate_nodes.append(node_name)
        elif not available(new):
            surging += 1
        else:
            delete.append(old)
    budget = max(0, min(max_surge - surging, len(candidate_nodes)))
    spare = max(0, available_count - (desired - max_unavailable))
    delete.extend(not_run_candidates[:spare])
    return RolloutPlan(delete=delete, create_on=allowed + candidate_nodes[:budget])
