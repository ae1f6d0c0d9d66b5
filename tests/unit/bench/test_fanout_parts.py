"""The fan-out figure's pure parts: the instant kubelet's pod status and the per-node tracker."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.fanout_bench import SYNC_LINE, Tracker, agent_steps, load_line, sync_line
from bench.simagents import running_status
from nodeagent.api.bodies import Obj


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


def test_agent_steps_take_each_nodes_first_stamp_of_the_phase_for_the_right_pod() -> None:
    """Steps of the new pod count its image, deletion steps the old one; earlier stamps and
    repeats are left out; times are ms after the phase began."""
    rows: list[list[Any]] = [
        ["n1", "pod_seen", "img:2", 99.0],  # before the phase
        ["n1", "pod_seen", "img:2", 100.5],
        ["n1", "pod_seen", "img:2", 101.0],  # a repeat
        ["n2", "pod_seen", "img:1", 100.2],  # the old image: not this step
        ["n2", "delete_seen", "img:1", 100.1],
        ["n2", "confirm_end", "img:2", 100.3],  # a confirm counts only for the old pod
    ]
    steps = agent_steps(rows, wall0=100.0, image="img:2", old_image="img:1")
    assert steps["pod_seen"] == [500.0]
    assert [round(v) for v in steps["delete_seen"]] == [100]
    assert steps["confirm_end"] == []


def test_load_line_counts_only_the_requests_of_the_phase() -> None:
    """The phase's requests are the difference of two /metrics readings, with CPU per request."""
    before = Counter({"update nodes": 10, "create events": 5})
    after = Counter({"update nodes": 30, "create events": 5, "update pods": 20})
    line = load_line(phase="update", cpu=0.08, wall=0.2, before=before, after=after)
    assert "40 HTTP requests (2.0 ms CPU each" in line
    assert "update nodes 20" in line
    assert "create events" not in line


def test_sync_line_reads_the_daemonset_queues_metrics_of_the_phase() -> None:
    """The phase's syncs and their mean time are differences of two readings of the
    daemonset queue's histograms; other queues' samples are not read."""
    text = (
        'workqueue_work_duration_seconds_sum{name="daemonset"} 1.5\n'
        'workqueue_work_duration_seconds_count{name="daemonset"} 12.0\n'
        'workqueue_queue_duration_seconds_sum{name="daemonset"} 0.06\n'
        'workqueue_queue_duration_seconds_count{name="daemonset"} 12.0\n'
        'workqueue_work_duration_seconds_count{name="serviceaccount"} 99.0\n'
    )
    after = {f"{m['what']} {m['stat']}": float(m["value"]) for m in SYNC_LINE.finditer(text)}
    before = {"work sum": 0.5, "work count": 2.0, "queue sum": 0.01, "queue count": 2.0}
    line = sync_line("update", before, after)
    assert "syncs: 10, mean 100.0 ms" in line
    assert "waited 5.0 ms" in line
