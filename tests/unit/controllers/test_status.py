"""DaemonSet status counts as kube-controller-manager computes them."""

from __future__ import annotations

from nodeagent.server.controllers.daemonset import status
from nodeagent.server.controllers.daemonset.history import current_hash
from tests.unit.controllers.objects import NOW, daemonset, node, pod_for, with_image


def test_status_counts() -> None:
    """desired/current/misscheduled/ready/updated/available/unavailable over a mixed fleet."""
    old_ds = daemonset(node_selector={"run": "yes"}, min_ready_seconds=60)
    ds = with_image(old_ds, "fluentd:v2")
    nodes = [
        node("ready-new", labels={"run": "yes"}),
        node("ready-old", labels={"run": "yes"}),
        node("young", labels={"run": "yes"}),
        node("notready", labels={"run": "yes"}),
        node("empty", labels={"run": "yes"}),
        node("wrong"),
    ]
    pods = [
        pod_for(ds, "ready-new"),
        pod_for(old_ds, "ready-old"),
        pod_for(ds, "young", ready_since=NOW - 10),
        pod_for(ds, "notready", ready=False),
        pod_for(ds, "wrong"),
    ]
    result = status.compute_status(
        ds=ds, nodes=nodes, daemon_pods=pods, hash_=current_hash(ds), now=NOW, observed=True
    )
    assert {k: result[k] for k in status.COUNTS} == {
        "desiredNumberScheduled": 5,
        "currentNumberScheduled": 4,
        "numberMisscheduled": 1,
        "numberReady": 3,
        "updatedNumberScheduled": 3,
        "numberAvailable": 2,
        "numberUnavailable": 3,
    }
    assert result["observedGeneration"] == 2


def test_observed_generation_only_moves_when_observed() -> None:
    """A status-only pass (expectations pending) leaves observedGeneration where it was."""
    ds = with_image(daemonset(), "v2")
    ds["status"] = {"observedGeneration": 1}
    result = status.compute_status(
        ds=ds, nodes=[], daemon_pods=[], hash_=current_hash(ds), now=NOW, observed=False
    )
    assert result["observedGeneration"] == 1
    for key in status.COUNTS:
        assert result[key] == 0


def test_oldest_pod_on_node_is_counted() -> None:
    """With two pods on a node, the oldest one decides ready and updated."""
    ds = daemonset()
    old = pod_for(ds, "a", created=NOW - 100, ready=False)
    young = pod_for(ds, "a", created=NOW - 10)
    result = status.compute_status(
        ds=ds,
        nodes=[node("a")],
        daemon_pods=[young, old],
        hash_=current_hash(ds),
        now=NOW,
        observed=True,
    )
    assert result["numberReady"] == 0
    assert result["currentNumberScheduled"] == 1
