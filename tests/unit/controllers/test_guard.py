"""The rollout guard over whole rollouts in memory: conditions, progress deadline, health gate,
auto-revert, canary nodes, pause, unreachable nodes (pure decisions, time as a number)."""

from __future__ import annotations

import pytest

from nodeagent.api import meta
from nodeagent.api.rolloutpolicy import (
    AUTO_REVERT,
    CANARY_NODES,
    PAUSED,
    PROGRESS_DEADLINE,
    SOAK_SECONDS,
    UNHEALTHY_NODES,
    UNREACHABLE_NODES,
)
from nodeagent.server.controllers.daemonset import guard
from nodeagent.server.controllers.daemonset.metricgate import MetricReading, Sample
from tests.unit.controllers.rolloutsim import BAD, SLOW, Sim

V1, V2, V3 = "fluentd:v1", "fluentd:v2", "fluentd:v3"


def _ready_nodes(sim: Sim) -> set[str]:
    return {
        n
        for n in (meta.name_of(x) for x in sim.nodes)
        if any(meta.is_pod_ready(p) and not p["metadata"].get("deletionTimestamp")
               for p in sim.pods_on(n))
    }  # fmt: skip


def test_a_finished_daemonset_is_progressing_true_and_available() -> None:
    """A DaemonSet whose pods are all available: Progressing True NewRevisionAvailable,
    Available True MinimumPodsAvailable, and its revision marked completed."""
    sim = Sim()
    progressing = sim.condition("Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewRevisionAvailable")
    assert "available on all 3 nodes" in progressing["message"]
    assert progressing["lastUpdateTime"]
    available = sim.condition("Available")
    assert (available["status"], available["reason"]) == ("True", "MinimumPodsAvailable")
    assert guard.COMPLETED in meta.annotations_of(sim.revisions[0])


def test_an_update_rolls_then_completes_with_conditions_and_an_event() -> None:
    """During an update Progressing says NewRevisionRolling ("RollingUpdate ... in progress");
    at the end NewRevisionAvailable, with a RolloutComplete event."""
    sim = Sim()
    sim.set_image(V2)
    sim.step()
    rolling = sim.condition("Progressing")
    assert (rolling["status"], rolling["reason"]) == ("True", "NewRevisionRolling")
    assert "RollingUpdate of revision 2" in rolling["message"]
    sim.settle()
    assert sim.images() == {"n0": {V2}, "n1": {V2}, "n2": {V2}}
    assert sim.condition("Progressing")["reason"] == "NewRevisionAvailable"
    assert "RolloutComplete" in sim.reasons()


def test_available_false_when_fewer_than_desired_minus_max_unavailable() -> None:
    """Two of three pods not ready with maxUnavailable 1: Available False
    MinimumPodsUnavailable."""
    sim = Sim()
    sim.partition("n0")
    sim.partition("n1")
    sim.heal("n0")  # back, but its pod is not ready yet when the controller looks
    sim.heal("n1")
    sim.decision = None
    for name in ("n0", "n1"):
        for pod in sim.pods_on(name):
            pod["status"]["conditions"][0]["status"] = "False"
    sim.step()
    available = sim.condition("Available")
    assert (available["status"], available["reason"]) == ("False", "MinimumPodsUnavailable")


def test_crash_looping_revision_halts_after_the_first_node() -> None:
    """A new image that crash-loops on the first node halts the rollout: the other nodes keep
    the old image however long we wait; Progressing False RolloutHalted names the node and
    the reason; the revision carries the halt; a RolloutHalted warning event."""
    sim = Sim()
    sim.set_image(BAD)
    sim.settle(steps=120)
    assert sim.images() == {"n0": {BAD}, "n1": {V1}, "n2": {V1}}
    progressing = sim.condition("Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolloutHalted")
    assert "n0:" in progressing["message"]
    assert "CrashLoopBackOff" in progressing["message"]
    bad = max(sim.revisions, key=lambda r: r["revision"])
    assert guard.HALTED in meta.annotations_of(bad)
    assert sim.reasons().count("RolloutHalted") == 1


def test_auto_revert_goes_back_to_the_last_revision_available_everywhere() -> None:
    """With auto-revert the halted revision is replaced by the last completed one, written back
    as `rollout undo` does (it gets the next revision number), every node ends on it, and a
    RolledBack condition and a RolloutReverted event say why."""
    sim = Sim(annotations={AUTO_REVERT: "true"})
    sim.set_image(BAD)
    sim.settle(steps=60)
    assert sim.images() == {"n0": {V1}, "n1": {V1}, "n2": {V1}}
    assert sim.revision_numbers() == {V1: 3, BAD: 2}
    rolled_back = sim.condition("RolledBack")
    assert rolled_back["status"] == "True"
    assert "Reverted from revision 2" in rolled_back["message"]
    assert "CrashLoopBackOff" in rolled_back["message"]
    assert sim.reasons().count("RolloutReverted") == 1
    assert sim.condition("Progressing")["reason"] == "NewRevisionAvailable"
    # the next good update clears RolledBack
    sim.set_image(V3)
    sim.settle()
    assert sim.images() == {"n0": {V3}, "n1": {V3}, "n2": {V3}}
    assert meta.get_condition(sim.ds["status"], "RolledBack") is None


def test_auto_revert_with_no_good_revision_stays_halted() -> None:
    """No earlier revision was ever complete: nothing to revert to, a RevertImpossible event,
    and the rollout stays halted."""
    sim = Sim(annotations={AUTO_REVERT: "true"})
    sim.revisions[0]["metadata"]["annotations"].pop(guard.COMPLETED)
    sim.ds["metadata"]["annotations"][PAUSED] = "true"  # no completion mark while we change
    sim.set_image(BAD)
    sim.annotate(PAUSED, None)
    sim.settle(steps=30)
    assert sim.images() == {"n0": {BAD}, "n1": {V1}, "n2": {V1}}
    assert "RevertImpossible" in sim.reasons()
    assert sim.condition("Progressing")["reason"] == "RolloutHalted"


def test_threshold_two_tolerates_one_failing_node() -> None:
    """unhealthy-nodes-threshold 2 with maxUnavailable 2: one failing node is not enough,
    the second halts it; the third node is never touched."""
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "maxSurge": 0}}
    sim = Sim(node_count=4, annotations={UNHEALTHY_NODES: "2"}, strategy=strategy)
    sim.set_image(BAD)
    sim.settle(steps=60)
    assert sim.images() == {"n0": {BAD}, "n1": {BAD}, "n2": {V1}, "n3": {V1}}
    assert "failing on 2 nodes (threshold 2)" in sim.condition("Progressing")["message"]


def test_a_pod_never_ready_halts_once_the_deadline_passes() -> None:
    """A new pod that never becomes ready halts the rollout after the progress deadline, not
    before."""
    sim = Sim(annotations={PROGRESS_DEADLINE: "30"})
    sim.set_image(SLOW)
    sim.settle(steps=20)
    assert sim.condition("Progressing")["reason"] == "NewRevisionRolling"
    sim.settle(steps=20)
    progressing = sim.condition("Progressing")
    assert progressing["reason"] == "RolloutHalted"
    assert "not ready 30 s after it was created" in progressing["message"]
    assert sim.images() == {"n0": {SLOW}, "n1": {V1}, "n2": {V1}}


def test_a_halt_lasts_until_the_template_changes() -> None:
    """A halted revision stays halted even when its pod later becomes healthy; a new template
    rolls out normally."""
    sim = Sim()
    sim.set_image(BAD)
    sim.settle(steps=10)
    for pod in sim.pods_on("n0"):
        pod["spec"]["containers"][0]["image"] = V2  # the agent sees a fixed pod
    sim.settle(steps=20)
    assert sim.condition("Progressing")["reason"] == "RolloutHalted"
    assert sim.image_on("n1") == {V1}
    sim.set_image(V3)
    sim.settle()
    assert sim.images() == {"n0": {V3}, "n1": {V3}, "n2": {V3}}


def test_going_back_to_a_halted_template_tries_it_afresh() -> None:
    """`rollout undo` to the halted revision reuses it with a new number and forgets its halt."""
    sim = Sim()
    sim.set_image(BAD)
    sim.settle(steps=10)
    sim.set_image(V1)
    sim.settle()
    sim.set_image(BAD)
    sim.step()
    bad = next(r for r in sim.revisions if r["revision"] == 4)
    assert guard.HALTED not in meta.annotations_of(bad)
    sim.settle(steps=10)
    assert "RolloutHalted" in sim.condition("Progressing")["reason"]


def test_no_progress_for_the_deadline_is_progress_deadline_exceeded() -> None:
    """The `halt` unreachable policy with a node gone: nothing moves, and after the deadline
    Progressing is False ProgressDeadlineExceeded with a warning event; once the node is back
    the rollout finishes."""
    sim = Sim(annotations={PROGRESS_DEADLINE: "20", UNREACHABLE_NODES: "halt"})
    sim.partition("n1")
    sim.set_image(V2)
    sim.settle(steps=10)
    assert sim.condition("Progressing")["reason"] == "NewRevisionRolling"
    assert sim.images() == {"n0": {V1}, "n1": {V1}, "n2": {V1}}
    sim.settle(steps=15)
    progressing = sim.condition("Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert "no progress for 20 s" in progressing["message"]
    assert sim.reasons().count("ProgressDeadlineExceeded") == 1
    sim.heal("n1")
    sim.settle()
    assert sim.images() == {"n0": {V2}, "n1": {V2}, "n2": {V2}}
    assert sim.condition("Progressing")["reason"] == "NewRevisionAvailable"


def test_deadline_is_measured_from_the_last_progress() -> None:
    """lastUpdateTime moves with each node that is done, so a slow but moving rollout of many
    nodes never times out."""
    sim = Sim(node_count=6, annotations={PROGRESS_DEADLINE: "5"})
    sim.set_image(V2)
    sim.settle(steps=40, seconds=2.0)
    assert "ProgressDeadlineExceeded" not in sim.reasons()
    assert sim.condition("Progressing")["reason"] == "NewRevisionAvailable"


def test_pause_stops_between_nodes_and_resume_finishes() -> None:
    """paused=true after the first node: no other node changes however long, Progressing
    Unknown DaemonSetPaused, no deadline while paused; resume finishes the rollout."""
    sim = Sim(annotations={PROGRESS_DEADLINE: "10"})
    sim.set_image(V2)
    while sim.image_on("n0") != {V2} or "n0" not in _ready_nodes(sim):
        sim.step()
    sim.annotate(PAUSED, "true")
    sim.settle(steps=60)
    changed = {n for n, images in sim.images().items() if images == {V2}}
    assert len(changed) <= 2  # the node in flight when paused may finish
    progressing = sim.condition("Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DaemonSetPaused")
    assert "RolloutPaused" in sim.reasons()
    frozen = sim.images()
    sim.settle(steps=30)
    assert sim.images() == frozen
    sim.annotate(PAUSED, "false")
    sim.step()
    assert sim.condition("Progressing")["reason"] == "DaemonSetResumed"
    sim.settle()
    assert sim.images() == {"n0": {V2}, "n1": {V2}, "n2": {V2}}
    assert "RolloutResumed" in sim.reasons()
    assert "ProgressDeadlineExceeded" not in sim.reasons()


def test_paused_daemonset_still_runs_a_pod_on_a_new_node() -> None:
    """Pause holds the rollout, not the DaemonSet: a node that joins still gets its pod."""
    sim = Sim(annotations={PAUSED: "true"})
    sim.nodes.append(sim.node("n0") | {"metadata": {"name": "n9", "uid": "uid-n9"}})
    sim.settle(steps=3)
    assert sim.image_on("n9") == {V1}


@pytest.mark.parametrize("soak", [None, "15"], ids=["min-ready", "soak-annotation"])
def test_canary_nodes_go_first_and_the_rest_wait_for_the_soak(soak: str | None) -> None:
    """Only the canary nodes take the new revision until they have been ready for the soak
    time (minReadySeconds, or the soak annotation); then the others follow."""
    annotations = {CANARY_NODES: "canary=true"}
    if soak is not None:
        annotations[SOAK_SECONDS] = soak
    sim = Sim(
        node_count=4,
        annotations=annotations,
        labels={"n2": {"canary": "true"}},
        min_ready_seconds=15 if soak is None else 0,
    )
    sim.set_image(V2)
    sim.settle(steps=8)
    assert sim.images() == {"n0": {V1}, "n1": {V1}, "n2": {V2}, "n3": {V1}}
    assert "canary phase" in sim.condition("Progressing")["message"]
    sim.settle(steps=100)
    assert sim.images() == {"n0": {V2}, "n1": {V2}, "n2": {V2}, "n3": {V2}}
    assert sim.condition("Progressing")["reason"] == "NewRevisionAvailable"


def test_a_failing_canary_halts_before_any_other_node() -> None:
    sim = Sim(annotations={CANARY_NODES: "canary=true"}, labels={"n1": {"canary": "true"}})
    sim.set_image(BAD)
    sim.settle(steps=30)
    assert sim.images() == {"n0": {V1}, "n1": {BAD}, "n2": {V1}}
    assert sim.condition("Progressing")["reason"] == "RolloutHalted"


def test_no_canary_node_means_no_node_is_updated() -> None:
    """A canary selector that matches no node holds the rollout (safer than going
    fleet-wide untested) and says so."""
    sim = Sim(annotations={CANARY_NODES: "canary=true"})
    sim.set_image(V2)
    sim.settle(steps=10)
    assert sim.images() == {"n0": {V1}, "n1": {V1}, "n2": {V1}}
    assert (
        "no reachable node matches the canary selector" in (sim.condition("Progressing")["message"])
    )


def test_unreachable_node_is_skipped_and_caught_up_when_it_returns() -> None:
    """Default policy: a partitioned node neither holds the rollout nor loses its pod; the
    others finish, Progressing says which node waits (no deadline), and it is updated once
    back. Never more than maxUnavailable reachable nodes without a ready daemon."""
    sim = Sim(node_count=4, annotations={PROGRESS_DEADLINE: "10"})
    sim.partition("n1")
    sim.set_image(V2)
    for _ in range(60):
        sim.step()
        reachable = {"n0", "n2", "n3"}
        assert len(reachable - _ready_nodes(sim)) <= 1
    assert sim.images() == {"n0": {V2}, "n1": {V1}, "n2": {V2}, "n3": {V2}}
    assert all(not p["metadata"].get("deletionTimestamp") for p in sim.pods_on("n1"))
    progressing = sim.condition("Progressing")
    assert (progressing["status"], progressing["reason"]) == (
        "True",
        "WaitingForUnreachableNodes",
    )
    assert "n1" in progressing["message"]
    assert "ProgressDeadlineExceeded" not in sim.reasons()
    assert guard.COMPLETED not in meta.annotations_of(
        max(sim.revisions, key=lambda r: r["revision"])
    )
    sim.heal("n1")
    sim.settle()
    assert sim.images() == {"n0": {V2}, "n1": {V2}, "n2": {V2}, "n3": {V2}}
    assert sim.condition("Progressing")["reason"] == "NewRevisionAvailable"


def test_halt_policy_holds_the_whole_rollout_while_a_node_is_unreachable() -> None:
    sim = Sim(annotations={UNREACHABLE_NODES: "halt"})
    sim.partition("n2")
    sim.set_image(V2)
    sim.settle(steps=20)
    assert sim.images() == {"n0": {V1}, "n1": {V1}, "n2": {V1}}
    assert "policy halt" in sim.condition("Progressing")["message"]


def test_unreachable_nodes_do_not_count_against_the_failure_threshold() -> None:
    """A node that goes away with a not-ready new pod is not a failing node: the rollout moves
    on to the next node, and it is that one's failure that halts it."""
    sim = Sim(annotations={PROGRESS_DEADLINE: "5"})
    sim.set_image(SLOW)
    sim.step()
    sim.step()
    sim.partition("n0")
    sim.settle(steps=20)
    progressing = sim.condition("Progressing")
    assert progressing["reason"] == "RolloutHalted"
    assert "n1:" in progressing["message"]
    assert "n0:" not in progressing["message"]


def test_decide_returns_a_requeue_for_the_deadline() -> None:
    """While rolling, the controller is asked to look again by the time the deadline passes."""
    sim = Sim(annotations={PROGRESS_DEADLINE: "40"})
    sim.set_image(SLOW)
    sim.step()
    sim.step()
    assert sim.decision is not None
    assert sim.decision.requeue_after is not None
    assert 0 < sim.decision.requeue_after <= 41


METRIC = {
    "rollout.nodeagent.io/metric-query": "sum(nodeagent_manifest_errors)",
    "rollout.nodeagent.io/metric-max": "0",
}


def _reading(value: float) -> MetricReading:
    return MetricReading(samples=(Sample(labels={}, value=value),))


def test_metric_within_bound_lets_the_rollout_finish() -> None:
    sim = Sim(annotations=METRIC)
    sim.metric = _reading(0)
    sim.set_image(V2)
    sim.settle()
    assert sim.images() == {"n0": {V2}, "n1": {V2}, "n2": {V2}}


@pytest.mark.parametrize("revert", [False, True], ids=["halt", "revert"])
def test_metric_above_bound_halts_after_the_first_batch(revert: bool) -> None:
    """The metric gate is asked once a batch runs the new revision: above the bound the
    rollout halts before the next node (and reverts with auto-revert)."""
    sim = Sim(annotations=METRIC | ({AUTO_REVERT: "true"} if revert else {}))
    sim.metric = _reading(2)
    sim.set_image(V2)
    sim.settle(steps=30)
    if revert:
        assert sim.images() == {"n0": {V1}, "n1": {V1}, "n2": {V1}}
        assert "metric gate" in sim.condition("RolledBack")["message"]
    else:
        assert sim.images() == {"n0": {V2}, "n1": {V1}, "n2": {V1}}
        message = sim.condition("Progressing")["message"]
        assert "metric gate: sum(nodeagent_manifest_errors) = 2, above the bound 0" in message


def test_metric_gate_that_cannot_be_read_holds_without_halting() -> None:
    """No answer from Prometheus: the rollout holds after the first batch (not a halt), says
    why, and the deadline runs; once the query answers within the bound it finishes."""
    sim = Sim(annotations=METRIC | {PROGRESS_DEADLINE: "20"})
    sim.metric = MetricReading(error="Prometheus at http://p:9090 did not answer")
    sim.set_image(V2)
    sim.settle(steps=10)
    assert sim.images() == {"n0": {V2}, "n1": {V1}, "n2": {V1}}
    assert "held by the metric gate: Prometheus" in sim.condition("Progressing")["message"]
    sim.settle(steps=20)
    assert sim.condition("Progressing")["reason"] == "ProgressDeadlineExceeded"
    sim.metric = _reading(0)
    sim.settle()
    assert sim.images() == {"n0": {V2}, "n1": {V2}, "n2": {V2}}
