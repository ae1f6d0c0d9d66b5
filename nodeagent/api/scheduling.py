"""Where a pod may run: taints and tolerations, node selectors, required node affinity, the
automatic DaemonSet tolerations, and NodeShouldRunDaemonPod. Pure.

A malformed selector term matches nothing (Kubernetes ignores terms it cannot parse).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.meta import labels_of, name_of

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
# Taint effects that keep a new pod off a node, and those that evict a running one.
PLACEMENT_EFFECTS = frozenset({NO_SCHEDULE, NO_EXECUTE})
EVICTION_EFFECTS = frozenset({NO_EXECUTE})


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonToleration:
    """A row of the DaemonSet concept page's table of automatic tolerations."""

    key: str
    effect: str
    host_network_only: bool = False

    def as_toleration(self) -> Obj:
        return {"key": self.key, "operator": "Exists", "effect": self.effect}


# The tolerations the DaemonSet controller adds to every daemon pod (seed 003), in its order.
DAEMONSET_TOLERATIONS: tuple[DaemonToleration, ...] = (
    DaemonToleration(key="node.kubernetes.io/not-ready", effect=NO_EXECUTE),
    DaemonToleration(key="node.kubernetes.io/unreachable", effect=NO_EXECUTE),
    DaemonToleration(key="node.kubernetes.io/disk-pressure", effect=NO_SCHEDULE),
    DaemonToleration(key="node.kubernetes.io/memory-pressure", effect=NO_SCHEDULE),
    DaemonToleration(key="node.kubernetes.io/pid-pressure", effect=NO_SCHEDULE),
    DaemonToleration(key="node.kubernetes.io/unschedulable", effect=NO_SCHEDULE),
    DaemonToleration(
        key="node.kubernetes.io/network-unavailable", effect=NO_SCHEDULE, host_network_only=True
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShouldRun:
    should_run: bool  # place a new daemon pod on this node
    should_continue_running: bool  # keep a daemon pod already there


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Toleration.ToleratesTaint: empty effect matches all effects, empty key (with Exists)
    all keys; operator "" means Equal."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def untolerated_taint(tolerations: Any, taints: Any, effects: Collection[str]) -> Obj | None:
    """The first taint with an effect in effects that no toleration tolerates, or None."""
    tols = [t for t in _list(tolerations) if isinstance(t, dict)]
    for taint in _list(taints):
        if not isinstance(taint, dict) or taint.get("effect") not in effects:
            continue
        if not any(tolerates(t, taint) for t in tols):
            return taint
    return None


def tolerates_all(tolerations: Any, taints: Any, effects: Collection[str]) -> bool:
    """Every taint whose effect is in effects is tolerated."""
    return untolerated_taint(tolerations, taints, effects) is None


def _label_requirement(expr: Obj, labels: dict[str, str]) -> bool:
    key, op = expr.get("key"), expr.get("operator")
    values = [v for v in _list(expr.get("values")) if isinstance(v, str)]
    if not isinstance(key, str):
        return False
    present = key in labels
    match op:
        case "In":
            return bool(values) and present and labels[key] in values
        case "NotIn":
            return bool(values) and (not present or labels[key] not in values)
        case "Exists":
            return not values and present
        case "DoesNotExist":
            return not values and not present
        case "Gt" | "Lt":
            if len(values) != 1 or not present:
                return False
            try:
                have, bound = int(labels[key]), int(values[0])
            except ValueError:
                return False
            return have > bound if op == "Gt" else have < bound
    return False


def _field_requirement(expr: Obj, node: Obj) -> bool:
    if expr.get("key") != "metadata.name" or expr.get("operator") not in ("In", "NotIn"):
        return False
    values = _list(expr.get("values"))
    if len(values) != 1:
        return False
    inside = name_of(node) in values
    return inside if expr.get("operator") == "In" else not inside


def _term_matches(term: Any, node: Obj, labels: dict[str, str]) -> bool:
    if not isinstance(term, dict):
        return False
    exprs = _list(term.get("matchExpressions"))
    fields = _list(term.get("matchFields"))
    if not exprs and not fields:
        return False  # an empty term matches no objects
    return all(isinstance(e, dict) and _label_requirement(e, labels) for e in exprs) and all(
        isinstance(f, dict) and _field_requirement(f, node) for f in fields
    )


def node_selector_matches(node_selector: Any, node: Obj) -> bool:
    """A v1.NodeSelector: nodeSelectorTerms ORed, a term's expressions and fields ANDed."""
    labels = labels_of(node)
    terms = _list(_map(node_selector).get("nodeSelectorTerms"))
    return any(_term_matches(term, node, labels) for term in terms)


def node_matches_node_selector(spec: Obj, node: Obj) -> bool:
    """spec.nodeSelector: every label given must be on the node with that value."""
    wanted = _map(spec.get("nodeSelector"))
    labels = labels_of(node)
    return all(labels.get(k) == v for k, v in wanted.items())


def node_matches_required_affinity(spec: Obj, node: Obj) -> bool:
    """spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution, if any."""
    affinity = _map(_map(spec.get("affinity")).get("nodeAffinity"))
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return True
    return node_selector_matches(required, node)


def add_daemonset_tolerations(pod_spec: Obj) -> Obj:
    """A copy of pod_spec with the automatic daemon tolerations added or updated
    (util.AddOrUpdateDaemonPodTolerations): a toleration with the same key, operator, value
    and effect is replaced, any other is kept; new ones are appended."""
    spec = dict(pod_spec)
    tolerations = [t for t in _list(spec.get("tolerations")) if isinstance(t, dict)]
    for row in DAEMONSET_TOLERATIONS:
        if row.host_network_only and spec.get("hostNetwork") is not True:
            continue
        new = row.as_toleration()
        same = next((i for i, t in enumerate(tolerations) if _same_toleration(t, new)), None)
        if same is None:
            tolerations.append(new)
        else:
            tolerations[same] = new
    spec["tolerations"] = tolerations
    return spec


def _same_toleration(a: Obj, b: Obj) -> bool:
    fields = ("key", "operator", "value", "effect")
    return all((a.get(f) or "") == (b.get(f) or "") for f in fields)


def _spec_of_template(ds: Obj) -> Obj:
    return _map(_map(_map(ds.get("spec")).get("template")).get("spec"))


@dataclass(frozen=True, slots=True)
class DaemonPlacement:
    """NodeShouldRunDaemonPod for one DaemonSet: its pod spec with the daemon tolerations is
    built once (`daemon_placement`), then asked per node (a sync asks for every node)."""

    spec: Obj

    def on(self, node: Obj) -> ShouldRun:
        """Node name, nodeSelector and required affinity decide both answers; then
        untolerated NoSchedule/NoExecute taints block a new pod, and only an untolerated
        NoExecute taint evicts a running one. spec.unschedulable is ignored."""
        spec = self.spec
        node_name = spec.get("nodeName") or ""
        if node_name and node_name != name_of(node):
            return ShouldRun(should_run=False, should_continue_running=False)
        if not (
            node_matches_node_selector(spec, node) and node_matches_required_affinity(spec, node)
        ):
            return ShouldRun(should_run=False, should_continue_running=False)
        taints = _map(node.get("spec")).get("taints")
        if not taints or tolerates_all(spec["tolerations"], taints, PLACEMENT_EFFECTS):
            return ShouldRun(should_run=True, should_continue_running=True)
        keep = tolerates_all(spec["tolerations"], taints, EVICTION_EFFECTS)
        return ShouldRun(should_run=False, should_continue_running=keep)


def daemon_placement(ds: Obj) -> DaemonPlacement:
    return DaemonPlacement(add_daemonset_tolerations(_spec_of_template(ds)))


def node_should_run(node: Obj, ds: Obj) -> ShouldRun:
    """NodeShouldRunDaemonPod for one node (`daemon_placement(ds).on(node)`)."""
    return daemon_placement(ds).on(node)


def pod_fits_node(pod_spec: Obj, node: Obj) -> bool:
    """Could a pod with this spec be placed on node: nodeName, nodeSelector, required
    affinity, and no untolerated NoSchedule/NoExecute taint."""
    node_name = pod_spec.get("nodeName") or ""
    if node_name and node_name != name_of(node):
        return False
    return (
        node_matches_node_selector(pod_spec, node)
        and node_matches_required_affinity(pod_spec, node)
        and tolerates_all(
            pod_spec.get("tolerations"), _map(node.get("spec")).get("taints"), PLACEMENT_EFFECTS
        )
    )
