"""Pod GC: pods on a deleted node go after the quarantine."""

from __future__ import annotations

from nodeagent.server.controllers.podgcplan import orphaned_pods
from tests.unit.controllers.objects import NOW, daemonset, names, pod_for


def test_pods_of_missing_node_deleted_after_quarantine() -> None:
    """A missing node's pods (mirror pods too) are kept during the quarantine, then deleted."""
    ds = daemonset()
    alive, orphan = pod_for(ds, "alive"), pod_for(ds, "gone")
    mirror = pod_for(ds, "gone")
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    first = orphaned_pods(
        [alive, orphan, mirror], {"alive"}, missing_since={}, now=NOW, quarantine=40
    )
    assert first.delete == []
    assert first.missing_since == {"gone": NOW}
    later = orphaned_pods(
        [alive, orphan, mirror],
        {"alive"},
        missing_since=first.missing_since,
        now=NOW + 40,
        quarantine=40,
    )
    assert names(later.delete) == names([orphan, mirror])
    assert later.check_nodes == ["gone"]


def test_node_that_returns_resets_quarantine() -> None:
    """A node seen again is forgotten, so a later disappearance starts a new quarantine."""
    ds = daemonset()
    pod = pod_for(ds, "flappy")
    back = orphaned_pods([pod], {"flappy"}, missing_since={"flappy": NOW - 100}, now=NOW)
    assert back.delete == []
    assert back.missing_since == {}


def test_unscheduled_terminating_pods_deleted() -> None:
    """A pod with no node that is being deleted is removed at once."""
    ds = daemonset()
    pod = pod_for(ds, "x", terminating=True)
    pod["spec"]["nodeName"] = ""
    assert names(orphaned_pods([pod], set(), missing_since={}, now=NOW).delete) == names([pod])
