"""The fan-out figure's pure parts: the instant kubelet's pod status and the per-node tracker."""

from __future__ import annotations

from typing import Any

from bench.fanout_bench import Tracker
from bench.simagents import running_status

Obj = dict[str, Any]


def _pod(node: str, image: str, **extra: Any) -> Obj:
    pod: Obj = {
        "metadata": {"name": f"fan-{node}", "uid": f"u-{node}", **extra},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": image}]},
    }
    return pod


def test_running_status_reports_every_container_ready_with_its_image() -> None:
    """The simulated kubelet reports Running, Ready True and each container's image."""
    status = running_status(_pod("n1", "img:2"), now=1_700_000_000.0)
    assert status["phase"] == "Running"
    assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["True"]
    [container] = status["containerStatuses"]
    assert (container["name"], container["image"], container["ready"]) == ("main", "img:2", True)


def test_tracker_stamps_a_node_once_only_for_the_wanted_image_and_readiness() -> None:
    """A node counts once its pod has the goal's image and is Running (and Ready if asked)."""
    tracker = Tracker()
    tracker.goal(image="img:2", need_ready=True)
    old = {**_pod("n1", "img:1"), "status": running_status(_pod("n1", "img:1"), now=0.0)}
    tracker.observe(old)
    pending = {**_pod("n1", "img:2"), "status": {"phase": "Pending"}}
    tracker.observe(pending)
    assert tracker.seen == {}
    ready = {**_pod("n1", "img:2"), "status": running_status(_pod("n1", "img:2"), now=0.0)}
    tracker.observe(ready)
    first = tracker.seen["n1"]
    tracker.observe(ready)
    assert tracker.seen == {"n1": first}


def test_tracker_ignores_a_pod_being_deleted() -> None:
    """A terminating pod with the right image does not count for its node."""
    tracker = Tracker()
    tracker.goal(image="img:1", need_ready=False)
    going = {
        **_pod("n2", "img:1", deletionTimestamp="2026-01-01T00:00:00Z"),
        "status": {"phase": "Running"},
    }
    tracker.observe(going)
    assert tracker.seen == {}
