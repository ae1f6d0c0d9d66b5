"""Taints, tolerations, node selectors, node affinity and NodeShouldRunDaemonPod."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeagent.api.bodies import Obj
from nodeagent.api.scheduling import (
    DAEMONSET_TOLERATIONS,
    ShouldRun,
    add_daemonset_tolerations,
    node_matches_node_selector,
    node_matches_required_affinity,
    node_should_run,
    pod_fits_node,
    tolerates,
    tolerates_all,
)


def node(name: str = "node01", labels: Obj | None = None, taints: list[Obj] | None = None) -> Obj:
    out: Obj = {"kind": "Node", "metadata": {"name": name, "labels": labels or {}}, "spec": {}}
    if taints is not None:
        out["spec"]["taints"] = taints
    return out


def daemonset(**spec: Any) -> Obj:
    pod_spec = {"containers": [{"name": "c", "image": "i"}], **spec}
    return {"kind": "DaemonSet", "spec": {"template": {"spec": pod_spec}}}


MASTER = {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        pytest.param(
            {"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"},
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            True,
            id="equal-match",
        ),
        pytest.param(
            {"key": "k", "value": "v"},
            {"key": "k", "value": "v", "effect": "NoExecute"},
            True,
            id="empty-operator-is-equal-empty-effect-any",
        ),
        pytest.param(
            {"key": "k", "value": "x"},
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            False,
            id="value-differs",
        ),
        pytest.param(
            {"key": "k", "operator": "Exists"},
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            True,
            id="exists-any-value",
        ),
        pytest.param({"operator": "Exists"}, MASTER, True, id="empty-key-exists-matches-all"),
        pytest.param(
            {"key": "k", "operator": "Exists", "effect": "NoExecute"},
            {"key": "k", "effect": "NoSchedule"},
            False,
            id="effect-differs",
        ),
        pytest.param({"key": "other", "operator": "Exists"}, MASTER, False, id="key-differs"),
        pytest.param({"key": MASTER["key"], "operator": "Bogus"}, MASTER, False, id="bad-op"),
        pytest.param(
            {"key": "k"}, {"key": "k", "effect": "NoSchedule"}, True, id="both-empty-values"
        ),
    ],
)
def test_tolerates(toleration: Obj, taint: Obj, expected: bool) -> None:
    """ToleratesTaint semantics, including the empty key and empty effect cases."""
    assert tolerates(toleration, taint) is expected


def test_tolerates_all_considers_only_the_given_effects() -> None:
    """PreferNoSchedule taints are ignored when only NoSchedule/NoExecute count."""
    taints = [{"key": "soft", "effect": "PreferNoSchedule"}]
    assert tolerates_all([], taints, {"NoSchedule", "NoExecute"})
    assert not tolerates_all([], taints, {"PreferNoSchedule"})


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        pytest.param({}, {}, True, id="none"),
        pytest.param({"disk": "ssd"}, {"disk": "ssd", "x": "y"}, True, id="subset"),
        pytest.param({"disk": "ssd"}, {"disk": "hdd"}, False, id="value-differs"),
        pytest.param({"disk": "ssd"}, {}, False, id="absent"),
    ],
)
def test_node_selector(selector: Obj, labels: Obj, expected: bool) -> None:
    """Every nodeSelector label must be on the node with that value."""
    assert node_matches_node_selector({"nodeSelector": selector}, node(labels=labels)) is expected


def required(*terms: Obj) -> Obj:
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}
            }
        }
    }


def expr(key: str, op: str, *values: str) -> Obj:
    out: Obj = {"key": key, "operator": op}
    if values:
        out["values"] = list(values)
    return out


LABELS = {"zone": "a", "cores": "8"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, True, id="no-affinity"),
        pytest.param(required({"matchExpressions": [expr("zone", "In", "a", "b")]}), True, id="in"),
        pytest.param(
            required({"matchExpressions": [expr("zone", "NotIn", "a")]}), False, id="notin"
        ),
        pytest.param(
            required({"matchExpressions": [expr("gpu", "NotIn", "x")]}), True, id="notin-absent"
        ),
        pytest.param(required({"matchExpressions": [expr("zone", "Exists")]}), True, id="exists"),
        pytest.param(
            required({"matchExpressions": [expr("zone", "DoesNotExist")]}), False, id="dne"
        ),
        pytest.param(required({"matchExpressions": [expr("cores", "Gt", "4")]}), True, id="gt"),
        pytest.param(required({"matchExpressions": [expr("cores", "Lt", "4")]}), False, id="lt"),
        pytest.param(
            required({"matchExpressions": [expr("zone", "Gt", "4")]}), False, id="gt-not-int"
        ),
        pytest.param(
            required({"matchExpressions": [expr("zone", "In", "a"), expr("cores", "Lt", "2")]}),
            False,
            id="expressions-anded",
        ),
        pytest.param(
            required(
                {"matchExpressions": [expr("zone", "In", "z")]},
                {"matchExpressions": [expr("zone", "In", "a")]},
            ),
            True,
            id="terms-ored",
        ),
        pytest.param(
            required({"matchFields": [expr("metadata.name", "In", "node01")]}), True, id="fields"
        ),
        pytest.param(
            required({"matchFields": [expr("metadata.name", "In", "node02")]}),
            False,
            id="fields-miss",
        ),
        pytest.param(
            required(
                {
                    "matchExpressions": [expr("zone", "In", "a")],
                    "matchFields": [expr("metadata.name", "NotIn", "node01")],
                }
            ),
            False,
            id="fields-and-expressions-anded",
        ),
        pytest.param(required({}), False, id="empty-term-matches-nothing"),
        pytest.param(required(), False, id="no-terms-matches-nothing"),
        pytest.param(
            required({"matchExpressions": [expr("zone", "Near", "a")]}), False, id="bad-op"
        ),
    ],
)
def test_required_node_affinity(spec: Obj, expected: bool) -> None:
    """nodeSelectorTerms are ORed; a term's expressions and fields are ANDed."""
    assert node_matches_required_affinity(spec, node(labels=LABELS)) is expected


def test_daemonset_tolerations_table_is_seed_003() -> None:
    """The automatic tolerations are the seven rows of the DaemonSet concept page."""
    rows = [(t.key.removeprefix("node.kubernetes.io/"), t.effect) for t in DAEMONSET_TOLERATIONS]
    assert rows == [
        ("not-ready", "NoExecute"),
        ("unreachable", "NoExecute"),
        ("disk-pressure", "NoSchedule"),
        ("memory-pressure", "NoSchedule"),
        ("pid-pressure", "NoSchedule"),
        ("unschedulable", "NoSchedule"),
        ("network-unavailable", "NoSchedule"),
    ]


def test_add_daemonset_tolerations_keeps_user_ones_and_adds_the_table() -> None:
    """User tolerations come first; network-unavailable only with hostNetwork."""
    spec = {"tolerations": [MASTER]}
    added = add_daemonset_tolerations(spec)
    keys = [t["key"] for t in added["tolerations"]]
    assert keys[0] == MASTER["key"]
    assert "node.kubernetes.io/network-unavailable" not in keys
    assert len(keys) == 7
    assert spec == {"tolerations": [MASTER]}  # input untouched
    host = add_daemonset_tolerations({"hostNetwork": True})
    assert host["tolerations"][-1] == {
        "key": "node.kubernetes.io/network-unavailable",
        "operator": "Exists",
        "effect": "NoSchedule",
    }


def test_add_daemonset_tolerations_replaces_a_matching_one_and_is_idempotent() -> None:
    """A same-key toleration with tolerationSeconds becomes the infinite one, once."""
    timed = {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    once = add_daemonset_tolerations({"tolerations": [timed]})
    assert once["tolerations"][0] == {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
    }
    assert add_daemonset_tolerations(once) == once


def taint(key: str, effect: str, value: str = "") -> Obj:
    out = {"key": key, "effect": effect}
    if value:
        out["value"] = value
    return out


@pytest.mark.parametrize(
    ("the_node", "ds", "expected"),
    [
        pytest.param(node(), daemonset(), (True, True), id="plain-node"),
        pytest.param(
            node(taints=[MASTER]), daemonset(), (False, True), id="master-noschedule-keeps"
        ),
        pytest.param(
            node(taints=[MASTER]),
            daemonset(tolerations=[MASTER]),
            (True, True),
            id="tolerated-master",
        ),
        pytest.param(
            node(taints=[taint("dedicated", "NoExecute", "gpu")]),
            daemonset(),
            (False, False),
            id="noexecute-evicts",
        ),
        pytest.param(
            node(taints=[taint("soft", "PreferNoSchedule")]), daemonset(), (True, True), id="prefer"
        ),
        pytest.param(
            node(taints=[taint("node.kubernetes.io/not-ready", "NoExecute")]),
            daemonset(),
            (True, True),
            id="not-ready-tolerated",
        ),
        pytest.param(
            node(taints=[taint("node.kubernetes.io/unreachable", "NoExecute")]),
            daemonset(),
            (True, True),
            id="unreachable-tolerated",
        ),
        pytest.param(
            node(taints=[taint("node.kubernetes.io/unschedulable", "NoSchedule")]),
            daemonset(),
            (True, True),
            id="cordoned-ignored",
        ),
        pytest.param(
            node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
            daemonset(),
            (False, True),
            id="network-unavailable-needs-host-network",
        ),
        pytest.param(
            node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
            daemonset(hostNetwork=True),
            (True, True),
            id="network-unavailable-host-network",
        ),
        pytest.param(
            node(labels={"disk": "hdd"}),
            daemonset(nodeSelector={"disk": "ssd"}),
            (False, False),
            id="node-selector-miss",
        ),
        pytest.param(
            node(labels={"zone": "b"}),
            daemonset(**required({"matchExpressions": [expr("zone", "In", "a")]})),
            (False, False),
            id="affinity-miss",
        ),
        pytest.param(node(), daemonset(nodeName="node02"), (False, False), id="other-node-name"),
        pytest.param(node(), daemonset(nodeName="node01"), (True, True), id="own-node-name"),
    ],
)
def test_node_should_run(the_node: Obj, ds: Obj, expected: tuple[bool, bool]) -> None:
    """NodeShouldRunDaemonPod: placement vs continuing to run."""
    result = node_should_run(the_node, ds)
    assert result == ShouldRun(should_run=expected[0], should_continue_running=expected[1])


def test_unschedulable_spec_is_ignored_for_daemon_pods() -> None:
    """node.spec.unschedulable alone never keeps a daemon pod off a node."""
    cordoned = node()
    cordoned["spec"]["unschedulable"] = True
    assert node_should_run(cordoned, daemonset()).should_run


@pytest.mark.parametrize(
    ("spec", "the_node", "expected"),
    [
        pytest.param({}, node(), True, id="anywhere"),
        pytest.param({}, node(taints=[MASTER]), False, id="tainted"),
        pytest.param(
            {"tolerations": [{"operator": "Exists"}]}, node(taints=[MASTER]), True, id="all"
        ),
        pytest.param({"nodeName": "node02"}, node(), False, id="bound-elsewhere"),
        pytest.param({"nodeSelector": {"a": "b"}}, node(labels={"a": "b"}), True, id="selector"),
    ],
)
def test_pod_fits_node(spec: Obj, the_node: Obj, expected: bool) -> None:
    """A plain pod (no automatic tolerations) fits by name, selector, affinity and taints."""
    assert pod_fits_node(spec, the_node) is expected


_junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["", "a", "In", "Gt", "NoExecute"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "metadata",
                    "spec",
                    "labels",
                    "name",
                    "taints",
                    "key",
                    "value",
                    "effect",
                    "operator",
                    "values",
                    "template",
                    "tolerations",
                    "nodeSelector",
                    "affinity",
                    "nodeAffinity",
                    "requiredDuringSchedulingIgnoredDuringExecution",
                    "nodeSelectorTerms",
                    "matchExpressions",
                    "matchFields",
                    "nodeName",
                    "hostNetwork",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(_junk, _junk)
def test_node_should_run_never_raises(the_node: Any, ds: Any) -> None:
    """Malformed nodes and DaemonSets give an answer, never an exception."""
    the_node = the_node if isinstance(the_node, dict) else {}
    ds = ds if isinstance(ds, dict) else {}
    result = node_should_run(the_node, ds)
    assert result.should_continue_running or not result.should_run
    spec = ds.get("spec") if isinstance(ds.get("spec"), dict) else {}
    pod_fits_node(spec, the_node)
