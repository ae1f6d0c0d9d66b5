"""The status the agent writes: conditions others added survive, readiness gates hold Ready."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.agent.podsyncplan import PutStatus, Reported, plan_pod_sync
from nodeagent.agent.sources.update import SourceName
from nodeagent.agent.state import PodRecord
from nodeagent.agent.statusmerge import merged_status, owned_status
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time

T0, T1, NOW = "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z", 1_800_000_000.0
GATE = "example.com/ready"


def cond(ctype: str, status: str = "True", since: str = T0, **extra: str) -> Obj:
    base = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    return base | extra


def ours(ready: str = "True", since: str = T1) -> Obj:
    """The agent's own status as podstatus.py makes it (containers ready or not)."""
    reason = {} if ready == "True" else {"reason": "ContainersNotReady"}
    return {
        "phase": "Running",
        "conditions": [
            cond("PodReadyToStartContainers"),
            cond("Initialized"),
            cond("Ready", ready, since, **reason),
            cond("ContainersReady", ready, since, **reason),
            cond("PodScheduled"),
        ],
    }


def types(status: Obj) -> list[str]:
    return [c["type"] for c in status["conditions"]]


def ready_of(status: Obj) -> Obj:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def gates(*ctypes: str) -> list[Obj]:
    return [{"conditionType": t} for t in ctypes]


class TestForeignConditions:
    def test_kept_in_the_servers_order_before_the_agents_own(self) -> None:
        """Conditions another client added come first, in the server's order, as kubelet's
        mergePodStatus puts them; the agent's five follow in its own order."""
        server = {
            "conditions": [
                cond("Ready", "False"),
                cond("example.com/LB"),
                cond("PodScheduled"),
                cond("DisruptionTarget", "True", reason="EvictionByEvictionAPI"),
            ]
        }
        merged = merged_status(server, ours(), [], now=NOW)
        assert types(merged) == [
            "example.com/LB",
            "DisruptionTarget",
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        assert merged["conditions"][1]["reason"] == "EvictionByEvictionAPI"

    def test_owned_ones_are_the_agents_not_the_servers(self) -> None:
        """The server's Ready False (the node-lifecycle controller's) is replaced by the
        agent's; fields other than conditions are the agent's."""
        server = {"phase": "Unknown", "conditions": [cond("Ready", "False", reason="NodeLost")]}
        merged = merged_status(server, ours(), [], now=NOW)
        assert ready_of(merged) == cond("Ready", "True", T1)
        assert merged["phase"] == "Running"

    def test_foreign_conditions_in_ours_are_dropped(self) -> None:
        """Only the server's copy of a foreign condition counts (someone may have removed it)."""
        mine = ours()
        mine["conditions"].append(cond("example.com/LB"))
        assert types(merged_status({}, mine, [], now=NOW)) == types(ours())

    def test_nothing_to_merge_leaves_ours_as_it_is(self) -> None:
        """No foreign condition, no gate: the status is the agent's, untouched."""
        mine = {"phase": "Pending"}
        assert merged_status(None, mine, [], now=NOW) == mine
        assert merged_status({"conditions": [cond("Ready")]}, ours(), [], now=NOW) == ours()

    def test_owned_status_drops_foreign_conditions(self) -> None:
        """What the agent compares with what it sent leaves out other clients' conditions."""
        merged = merged_status({"conditions": [cond("example.com/LB")]}, ours(), [], now=NOW)
        assert owned_status(merged) == ours()


MISSING = f'corresponding condition of pod readiness gate "{GATE}" does not exist.'


class TestReadinessGates:
    def test_missing_gate_condition_holds_ready_false(self) -> None:
        """Containers ready, the gate's condition absent: Ready False, ContainersReady True."""
        merged = merged_status({}, ours(), gates(GATE), now=NOW)
        assert ready_of(merged) == cond(
            "Ready", "False", format_time(NOW), reason="ReadinessGatesNotReady", message=MISSING
        )
        containers = next(c for c in merged["conditions"] if c["type"] == "ContainersReady")
        assert containers["status"] == "True"

    @pytest.mark.parametrize("status", ["False", "Unknown"], ids=["false", "unknown"])
    def test_gate_condition_not_true_holds_ready_false(self, status: str) -> None:
        """The gate's condition present but not True: kubelet's 'is not "True", but X'."""
        server = {"conditions": [cond(GATE, status)]}
        ready = ready_of(merged_status(server, ours(), gates(GATE), now=NOW))
        assert ready["status"] == "False"
        assert ready["reason"] == "ReadinessGatesNotReady"
        assert ready["message"] == (
            f'the status of pod readiness gate "{GATE}" is not "True", but {status}'
        )

    def test_gate_condition_true_makes_ready_true(self) -> None:
        """Every gate met and containers ready: Ready True, without reason or message."""
        server = {"conditions": [cond(GATE), cond("Ready", "False", T0)]}
        merged = merged_status(server, ours(), gates(GATE), now=NOW)
        assert ready_of(merged) == cond("Ready", "True", format_time(NOW))
        assert types(merged)[0] == GATE

    def test_two_gates_messages_joined_in_gate_order(self) -> None:
        """Each unmet gate adds its message, joined with ', ' (kubelet's strings.Join)."""
        server = {"conditions": [cond("b.io/x", "False"), cond("c.io/ok")]}
        ready = ready_of(merged_status(server, ours(), gates(GATE, "b.io/x", "c.io/ok"), now=NOW))
        assert ready["message"] == (
            MISSING + ', the status of pod readiness gate "b.io/x" is not "True", but False'
        )

    def test_containers_not_ready_wins_over_gates(self) -> None:
        """Containers not ready: Ready says so, whatever the gates (kubelet returns the
        ContainersReady reason)."""
        merged = merged_status({}, ours("False"), gates(GATE), now=NOW)
        assert ready_of(merged) == ready_of(ours("False"))

    def test_transition_time_kept_while_ready_status_does_not_change(self) -> None:
        """The server's Ready False since T0 stays 'since T0' when the gate holds it False,
        and moves to now only when the gate turns it True."""
        server = {"conditions": [cond("Ready", "False", T0, reason="ContainersNotReady")]}
        held = merged_status(server, ours(), gates(GATE), now=NOW)
        assert ready_of(held)["lastTransitionTime"] == T0
        server = {"conditions": [*held["conditions"]]}
        server["conditions"][0] = cond(GATE, "False")  # another client adds its condition
        still = merged_status(server, ours(), gates(GATE), now=NOW + 60)
        assert ready_of(still)["lastTransitionTime"] == T0
        server["conditions"][0] = cond(GATE, "True")
        opened = merged_status(server, ours(), gates(GATE), now=NOW + 120)
        assert ready_of(opened)["lastTransitionTime"] == format_time(NOW + 120)

    def test_merging_again_against_a_newer_copy(self) -> None:
        """A write retried after a conflict merges what it meant to send with the newer copy:
        the gate turned True meanwhile, so Ready is True."""
        first = merged_status({}, ours(), gates(GATE), now=NOW)
        newer = {"conditions": [cond(GATE), *first["conditions"]]}
        again = merged_status(newer, first, gates(GATE), now=NOW + 1)
        assert ready_of(again)["status"] == "True"
        assert types(again)[0] == GATE


def plan(record_status: Obj, server_pod: Obj, reported: Reported) -> list[Any]:
    uid = server_pod["metadata"]["uid"]
    record = PodRecord(pod=server_pod, source=SourceName.API, status=record_status)
    return plan_pod_sync(
        records={uid: record},
        server_pods={uid: server_pod},
        server_synced=True,
        static_sources_synced=True,
        api_seen=True,
        reported=reported,
        rejected={},
        now=NOW,
    )


def gated_pod(status: Obj) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": "c"}], "readinessGates": gates(GATE)},
        "status": status,
    }


class TestPodSyncPlan:
    def test_gate_turning_true_on_the_server_sends_ready_true(self) -> None:
        """The agent wrote Ready False (gate missing); a client adds the gate condition True;
        with no container change the plan writes Ready True, the condition kept."""
        sent = merged_status({}, ours(), gates(GATE), now=NOW - 10)
        reported = Reported(statuses={"u1": owned_status(sent)})
        assert plan(ours(), gated_pod(sent), reported) == []
        patched = {**sent, "conditions": [*sent["conditions"], cond(GATE)]}
        [put] = plan(ours(), gated_pod(patched), reported)
        assert isinstance(put, PutStatus)
        assert ready_of(put.status)["status"] == "True"
        assert types(put.status)[0] == GATE

    def test_a_change_to_a_foreign_condition_alone_costs_no_write(self) -> None:
        """Another client rewriting its own condition (no gate on it) is not the agent's
        business: nothing is sent, so agent and client never take turns writing."""
        server = {**ours(), "conditions": [cond("example.com/LB"), *ours()["conditions"]]}
        reported = Reported(statuses={"u1": ours()})
        pod = {**gated_pod(server), "spec": {"containers": [{"name": "c"}]}}
        assert plan(ours(), pod, reported) == []
        server["conditions"][0] = cond("example.com/LB", "False", T1)
        assert plan(ours(), pod, reported) == []

    def test_write_keeps_what_the_server_has(self) -> None:
        """A status change is sent with the server's foreign conditions in it."""
        server = {**ours("False"), "conditions": [cond("example.com/LB"), *ours()["conditions"]]}
        pod = {**gated_pod(server), "spec": {"containers": [{"name": "c"}]}}
        [put] = plan(ours(), pod, Reported(statuses={"u1": ours("False")}))
        assert put.status["conditions"][0] == cond("example.com/LB")
