"""Node lifecycle: missed lease renewals make a node Unknown; conditions become taints."""

from __future__ import annotations

from typing import Any

from nodeagent.api import meta
from nodeagent.api.timefmt import format_time
from nodeagent.server.controllers.nodelifecycleplan import desired_node_taints_and_conditions
from tests.unit.controllers.objects import NOW, node

GRACE = 40.0


def _node(heartbeat: float = NOW - 5, **conditions: str) -> dict[str, Any]:
    n = node("n1")
    n["metadata"]["creationTimestamp"] = format_time(NOW - 3600)
    n["status"]["conditions"] = [
        {
            "type": t,
            "status": s,
            "reason": "KubeletReady",
            "lastHeartbeatTime": format_time(heartbeat),
            "lastTransitionTime": format_time(NOW - 3000),
        }
        for t, s in conditions.items()
    ]
    return n


def _lease(renewed: float) -> dict[str, Any]:
    return {"metadata": {"name": "n1"}, "spec": {"renewTime": format_time(renewed)}}


def _taints(taints: list[dict[str, Any]] | None) -> set[tuple[Any, Any]]:
    return {(t["key"], t["effect"]) for t in taints or []}


def test_fresh_lease_changes_nothing() -> None:
    """A healthy node with a recent lease needs no write."""
    n = _node(Ready="True", MemoryPressure="False", DiskPressure="False", PIDPressure="False")
    update = desired_node_taints_and_conditions(n, _lease(NOW - 5), now=NOW, grace=GRACE)
    assert update.conditions is None
    assert update.taints is None


def test_expired_lease_makes_node_unknown_and_unreachable() -> None:
    """No renewal for longer than the grace: every condition Unknown with the kubelet message,
    and the unreachable NoSchedule and NoExecute taints (the latter with timeAdded)."""
    n = _node(Ready="True", MemoryPressure="False", DiskPressure="False", PIDPressure="False")
    n["status"]["conditions"][0]["lastHeartbeatTime"] = format_time(NOW - 100)
    update = desired_node_taints_and_conditions(n, _lease(NOW - 41), now=NOW, grace=GRACE)
    assert update.stale
    assert update.conditions is not None
    for type_ in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
        cond = meta.get_condition(update.conditions, type_)
        assert cond is not None
        assert cond["status"] == "Unknown"
        assert cond["reason"] == "NodeStatusUnknown"
        assert cond["message"] == "Kubelet stopped posting node status."
        assert cond["lastTransitionTime"] == format_time(NOW)
    assert _taints(update.taints) == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    no_execute = [t for t in update.taints or [] if t["effect"] == "NoExecute"]
    assert no_execute[0]["timeAdded"] == format_time(NOW)


def test_lease_alone_keeps_a_node_ready_whose_status_is_sent_on_change() -> None:
    """Status sent only on change (every 5 min at most): a Ready heartbeat 4 min old with a
    lease renewed 5 s ago is alive, as kube-controller-manager takes the later of the two."""
    n = _node(heartbeat=NOW - 240, Ready="True", MemoryPressure="False")
    update = desired_node_taints_and_conditions(n, _lease(NOW - 5), now=NOW, grace=GRACE)
    assert not update.stale
    assert update.conditions is None
    assert update.taints is None


def test_status_sent_on_change_goes_unknown_when_the_lease_stops() -> None:
    """The same node once its lease is older than the grace: Unknown, whatever the status said;
    one second inside the grace it is still alive."""
    n = _node(heartbeat=NOW - 240, Ready="True")
    inside = desired_node_taints_and_conditions(n, _lease(NOW - 39), now=NOW, grace=GRACE)
    assert not inside.stale
    update = desired_node_taints_and_conditions(n, _lease(NOW - 41), now=NOW, grace=GRACE)
    assert update.stale
    ready = meta.get_condition(update.conditions or [], "Ready")
    assert ready is not None
    assert ready["status"] == "Unknown"


def test_observed_time_overrides_agent_clock() -> None:
    """With the controller's own observation time, a skewed agent clock does not matter."""
    n = _node(Ready="True")
    update = desired_node_taints_and_conditions(
        n, _lease(NOW - 500), now=NOW, grace=GRACE, observed_at=NOW - 10
    )
    assert not update.stale


def test_not_ready_and_pressure_taints_follow_conditions() -> None:
    """Ready=False -> not-ready taints; pressure True -> NoSchedule taints; user taints stay."""
    n = _node(Ready="False", MemoryPressure="True", DiskPressure="True", PIDPressure="True")
    n["spec"]["taints"] = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    update = desired_node_taints_and_conditions(n, _lease(NOW - 1), now=NOW, grace=GRACE)
    assert update.conditions is None
    assert _taints(update.taints) == {
        ("dedicated", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    }


def test_taints_removed_when_conditions_clear_and_cordon() -> None:
    """Taints of cleared conditions go; cordon adds unschedulable:NoSchedule."""
    n = _node(Ready="True", MemoryPressure="False")
    n["spec"]["taints"] = [
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "x"},
        {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
    ]
    n["spec"]["unschedulable"] = True
    update = desired_node_taints_and_conditions(n, _lease(NOW - 1), now=NOW, grace=GRACE)
    assert _taints(update.taints) == {("node.kubernetes.io/unschedulable", "NoSchedule")}


def test_node_that_never_reported() -> None:
    """A node object with no conditions and no lease past the grace gets Unknown conditions
    saying the kubelet never posted status."""
    n = node("n1")
    n["metadata"]["creationTimestamp"] = format_time(NOW - 100)
    n["status"] = {}
    update = desired_node_taints_and_conditions(n, None, now=NOW, grace=GRACE)
    assert update.conditions is not None
    ready = meta.get_condition(update.conditions, "Ready")
    assert ready is not None
    assert ready["reason"] == "NodeStatusNeverUpdated"
    assert ("node.kubernetes.io/unreachable", "NoExecute") in _taints(update.taints)


def test_unknown_node_stays_put() -> None:
    """A node already Unknown and tainted needs no further write."""
    n = _node(heartbeat=NOW - 100, Ready="True")
    first = desired_node_taints_and_conditions(n, _lease(NOW - 100), now=NOW, grace=GRACE)
    assert first.conditions is not None
    n["status"]["conditions"] = first.conditions
    n["spec"]["taints"] = first.taints
    again = desired_node_taints_and_conditions(n, _lease(NOW - 100), now=NOW + 5, grace=GRACE)
    assert again.conditions is None
    assert again.taints is None


def test_pods_on_lost_node_marked_not_ready() -> None:
    """Ready pods on a node that went Unknown get Ready=False; others are left alone."""
    from nodeagent.server.controllers.nodelifecycleplan import pods_marked_not_ready
    from tests.unit.controllers.objects import daemonset, pod_for

    ds = daemonset()
    ready, unready = pod_for(ds, "n1"), pod_for(ds, "n1", ready=False)
    [marked] = pods_marked_not_ready([ready, unready], now=NOW)
    assert marked["metadata"]["name"] == ready["metadata"]["name"]
    cond = meta.get_condition(marked["status"], "Ready")
    assert cond is not None
    assert cond["status"] == "False"
    assert cond["lastTransitionTime"] == format_time(NOW)
    assert meta.is_pod_ready(ready)  # the input is not changed
