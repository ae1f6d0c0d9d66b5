"""Full disruption, as kube-controller-manager's handleDisruption: when no node of any zone is
Ready, the NoExecute unreachable/not-ready taints come off every node (markNodeAsReachable)
and none is added; once a node is Ready again, normal tainting resumes and every node's grace
runs again from then."""

from __future__ import annotations

from typing import Any

from nodeagent.api.timefmt import format_time
from nodeagent.server.controllers.nodelifecycleplan import (
    ZoneState,
    counts_for_disruption,
    desired_node_taints_and_conditions,
    plan_disruption,
    ready_status,
    zone_key,
    zone_state,
)
from tests.unit.controllers.objects import NOW, node

GRACE = 40.0
FULL, NORMAL, PARTIAL = (
    ZoneState.FULL_DISRUPTION,
    ZoneState.NORMAL,
    ZoneState.PARTIAL_DISRUPTION,
)
UNREACHABLE_NE = ("node.kubernetes.io/unreachable", "NoExecute")
UNREACHABLE_NS = ("node.kubernetes.io/unreachable", "NoSchedule")
NOT_READY_NE = ("node.kubernetes.io/not-ready", "NoExecute")


def _taints(taints: list[dict[str, Any]] | None) -> set[tuple[Any, Any]]:
    return {(t["key"], t["effect"]) for t in taints or []}


def _unknown_tainted(name: str = "n1") -> dict[str, Any]:
    """A node already marked Unknown, carrying both unreachable taints and a user's NoExecute."""
    n = node(
        name,
        taints=[
            {"key": UNREACHABLE_NS[0], "effect": "NoSchedule"},
            {"key": UNREACHABLE_NE[0], "effect": "NoExecute", "timeAdded": format_time(NOW - 9)},
            {"key": "dedicated", "value": "x", "effect": "NoExecute"},
        ],
    )
    n["metadata"]["creationTimestamp"] = format_time(NOW - 3600)
    n["status"]["conditions"] = [
        {"type": t, "status": "Unknown", "lastHeartbeatTime": format_time(NOW - 100)}
        for t in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
    ]
    return n


def test_zone_state_counts_nodes_not_ready() -> None:
    """No node Ready: full; more than two and at least 55 % not Ready: partial; else normal.
    A node with no Ready condition ("") counts as not Ready."""
    assert zone_state(["Unknown"]) is FULL
    assert zone_state(["Unknown", "False", ""]) is FULL
    assert zone_state(["True", "Unknown", "Unknown"]) is NORMAL  # two not Ready: never partial
    assert zone_state(["True", "True", "Unknown", "Unknown", "Unknown"]) is PARTIAL  # 60 %
    assert zone_state(["True", "True", "True", "Unknown", "Unknown", "Unknown"]) is NORMAL  # 50 %
    assert zone_state([]) is NORMAL


def test_one_zone_enters_full_disruption_and_leaves_it_when_a_node_is_back() -> None:
    """The whole fleet as one zone: every node Unknown enters full disruption, the next pass
    stays in it, and one node Ready again leaves it (exiting: the graces restart)."""
    enter = plan_disruption({"": ["Unknown", "Unknown", "Unknown"]}, {"": NORMAL})
    assert (enter.full, enter.entering, enter.exiting) == (True, True, False)
    stay = plan_disruption({"": ["Unknown", "Unknown", "Unknown"]}, enter.states)
    assert (stay.full, stay.entering, stay.exiting) == (True, False, False)
    leave = plan_disruption({"": ["True", "Unknown", "Unknown"]}, stay.states)
    assert (leave.full, leave.entering, leave.exiting) == (False, False, True)
    after = plan_disruption({"": ["True", "Unknown", "Unknown"]}, leave.states)
    assert (after.full, after.entering, after.exiting) == (False, False, False)


def test_every_zone_must_be_fully_disrupted() -> None:
    """One zone all down while another has a Ready node is not full disruption (that zone's
    nodes are likelier down than the control plane cut off); every zone down is."""
    one = plan_disruption({"a": ["Unknown", "Unknown"], "b": ["True"]}, {})
    assert one.states == {"a": FULL, "b": NORMAL}
    assert not one.full
    both = plan_disruption({"a": ["Unknown", "Unknown"], "b": ["Unknown"]}, one.states)
    assert (both.full, both.entering) == (True, True)


def test_first_pass_all_down_enters_and_a_new_zone_enters_again() -> None:
    """A controller started while every node is down enters full disruption on its first pass
    (the zones were Initial); a zone that appears later is Initial too, so a pass with it also
    down enters again (the taints are lifted from its nodes as well)."""
    first = plan_disruption({"": ["Unknown"]}, {})
    assert (first.full, first.entering) == (True, True)
    grown = plan_disruption({"": ["Unknown"], "z": ["Unknown"]}, first.states)
    assert (grown.full, grown.entering, grown.exiting) == (True, True, False)


def test_no_nodes_is_no_disruption() -> None:
    empty = plan_disruption({}, {"": FULL})
    assert (empty.full, empty.entering, empty.exiting) == (False, False, False)
    assert empty.states == {}


def test_full_disruption_lifts_the_no_execute_taints_and_keeps_the_rest() -> None:
    """markNodeAsReachable: unreachable and not-ready NoExecute off; the unreachable
    NoSchedule taint and a user's NoExecute taint stay; the conditions are untouched."""
    n = _unknown_tainted()
    n["spec"]["taints"].append({"key": NOT_READY_NE[0], "effect": "NoExecute"})
    update = desired_node_taints_and_conditions(n, None, now=NOW, grace=GRACE, full_disruption=True)
    assert update.conditions is None
    assert _taints(update.taints) == {UNREACHABLE_NS, ("dedicated", "NoExecute")}


def test_full_disruption_adds_no_no_execute_taint_to_a_node_going_unknown() -> None:
    """A node whose heartbeat just went stale in full disruption: Unknown, with only the
    NoSchedule taint; out of full disruption the same node gets the NoExecute one too."""
    n = node("n1")
    n["metadata"]["creationTimestamp"] = format_time(NOW - 3600)
    n["status"]["conditions"] = [
        {"type": "Ready", "status": "True", "lastHeartbeatTime": format_time(NOW - 41)}
    ]
    full = desired_node_taints_and_conditions(n, None, now=NOW, grace=GRACE, full_disruption=True)
    assert ready_status(n, full) == "Unknown"
    assert _taints(full.taints) == {UNREACHABLE_NS}
    normal = desired_node_taints_and_conditions(n, None, now=NOW, grace=GRACE)
    assert _taints(normal.taints) == {UNREACHABLE_NS, UNREACHABLE_NE}


def test_ready_status_before_and_after_the_update() -> None:
    n = node("n1")
    unchanged = desired_node_taints_and_conditions(n, None, now=NOW, grace=GRACE, observed_at=NOW)
    assert ready_status(n, unchanged) == "True"
    n["status"] = {}
    assert ready_status(n, unchanged) == ""


def test_zone_key_from_topology_labels() -> None:
    """GetZoneKey: "" without labels (the whole fleet one zone); region and zone otherwise,
    the beta failure-domain labels as fallback; the exclusion label leaves a node out."""
    assert zone_key(node("a")) == ""
    zoned = node("b", labels={"topology.kubernetes.io/zone": "z1"})
    assert zone_key(zoned) == ":\x00:z1"
    beta = node(
        "c",
        labels={
            "failure-domain.beta.kubernetes.io/zone": "z2",
            "topology.kubernetes.io/region": "r",
        },
    )
    assert zone_key(beta) == "r:\x00:z2"
    assert counts_for_disruption(zoned)
    assert not counts_for_disruption(
        node("d", labels={"node.kubernetes.io/exclude-disruption": ""})
    )
