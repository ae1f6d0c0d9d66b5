"""The Node object and its status: labels, taints, merge with the server's Node, condition times."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.conditions import ConditionValue, ready_condition
from nodeagent.agent.nodestatus import (
    NodeFacts,
    build_node,
    build_status,
    merge_registration,
    status_changed,
)
from nodeagent.agent.reporter import transition_events

FACTS = NodeFacts(
    capacity={"cpu": "2", "memory": "8000000Ki", "pods": "110", "ephemeral-storage": "1000Ki"},
    addresses=(("InternalIP", "10.0.0.5"), ("Hostname", "node-a")),
    node_info={"kubeletVersion": "v1.37.0+nodeagent-0.1.0", "architecture": "amd64"},
    os="linux",
    arch="amd64",
)
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def mem(status: str) -> ConditionValue:
    return ConditionValue(type="MemoryPressure", status=status, reason="r", message="m")


def test_node_has_well_known_and_configured_labels_and_taints() -> None:
    """Registration carries hostname/os/arch labels (and beta ones), --label and --taint."""
    taint = {"key": "dedicated", "value": "logs", "effect": "NoSchedule"}
    node = build_node(node_name="node-a", facts=FACTS, labels={"disk": "ssd"}, taints=[taint])
    assert node["metadata"]["labels"] == {
        "kubernetes.io/hostname": "node-a",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "disk": "ssd",
    }
    assert node["spec"]["taints"] == [taint]
    assert node["kind"] == "Node"


def test_merge_keeps_server_taints_and_unschedulable() -> None:
    """An existing Node gets our labels but keeps its own taints, cordon and other labels."""
    existing: dict[str, Any] = {
        "metadata": {"name": "node-a", "uid": "u1", "labels": {"team": "infra", "disk": "hdd"}},
        "spec": {"unschedulable": True, "taints": [{"key": "x", "effect": "NoExecute"}]},
    }
    desired = build_node(node_name="node-a", facts=FACTS, labels={"disk": "ssd"}, taints=[])
    merged = merge_registration(existing, desired)
    assert merged["spec"] == existing["spec"]
    assert merged["metadata"]["labels"]["team"] == "infra"
    assert merged["metadata"]["labels"]["disk"] == "ssd"
    assert merged["metadata"]["uid"] == "u1"
    assert existing["metadata"]["labels"]["disk"] == "hdd"  # the input is not changed


def test_status_fields() -> None:
    """The status carries capacity, allocatable, addresses, nodeInfo and the listen port."""
    status = build_status(
        previous=None,
        conditions=[ready_condition(runtime_error=None)],
        facts=FACTS,
        kubelet_port=10248,
        now=T0,
    )
    assert status["capacity"] == status["allocatable"] == dict(FACTS.capacity)
    assert status["addresses"] == [
        {"type": "InternalIP", "address": "10.0.0.5"},
        {"type": "Hostname", "address": "node-a"},
    ]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10248}}
    assert status["nodeInfo"]["kubeletVersion"] == "v1.37.0+nodeagent-0.1.0"
    (ready,) = status["conditions"]
    assert ready["lastHeartbeatTime"] == ready["lastTransitionTime"] == "2027-01-15T08:00:00Z"


def test_transition_time_kept_while_status_unchanged() -> None:
    """lastTransitionTime moves only when the status changes; the heartbeat always moves."""
    first = build_status(
        previous=None, conditions=[mem("False")], facts=FACTS, kubelet_port=1, now=T0
    )
    same = build_status(
        previous=first, conditions=[mem("False")], facts=FACTS, kubelet_port=1, now=T0 + 10
    )
    (c,) = same["conditions"]
    assert c["lastTransitionTime"] == "2027-01-15T08:00:00Z"
    assert c["lastHeartbeatTime"] == "2027-01-15T08:00:10Z"
    flipped = build_status(
        previous=same, conditions=[mem("True")], facts=FACTS, kubelet_port=1, now=T0 + 20
    )
    assert flipped["conditions"][0]["lastTransitionTime"] == "2027-01-15T08:00:20Z"


def test_status_changed_ignores_heartbeats_and_figures() -> None:
    """A new heartbeat or figure is not a change; a condition's status or reason is."""
    first = build_status(
        previous=None, conditions=[mem("False")], facts=FACTS, kubelet_port=1, now=T0
    )
    later = build_status(
        previous=first, conditions=[mem("False")], facts=FACTS, kubelet_port=1, now=T0 + 5
    )
    later["conditions"][0]["message"] = "memory.available is 95Mi (< 100Mi)"
    assert not status_changed(first, later)
    flipped = build_status(
        previous=first, conditions=[mem("True")], facts=FACTS, kubelet_port=1, now=T0 + 5
    )
    assert status_changed(first, flipped)
    assert status_changed(None, first)


def test_transition_events_name_each_changed_condition() -> None:
    """Each condition that turns to a new status gets kubelet's event reason; others none."""
    first = build_status(
        previous=None,
        conditions=[mem("False"), ready_condition(runtime_error=None)],
        facts=FACTS,
        kubelet_port=1,
        now=T0,
    )
    assert transition_events(None, first) == [
        ("NodeHasSufficientMemory", "Node status is now: NodeHasSufficientMemory"),
        ("NodeReady", "Node status is now: NodeReady"),
    ]
    later = build_status(
        previous=first,
        conditions=[mem("True"), ready_condition(runtime_error=None)],
        facts=FACTS,
        kubelet_port=1,
        now=T0 + 1,
    )
    assert transition_events(first, later) == [
        ("NodeHasInsufficientMemory", "Node status is now: NodeHasInsufficientMemory")
    ]
    assert transition_events(later, later) == []
