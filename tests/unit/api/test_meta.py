"""Metadata, conditions and readiness read from plain dicts."""

from __future__ import annotations

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.meta import (
    annotations_of,
    controller_ref,
    get_condition,
    is_controlled_by,
    is_pod_available,
    is_pod_ready,
    is_pod_terminating,
    labels_of,
    name_of,
    namespace_of,
    node_ready_status,
    pod_phase,
    set_condition,
    uid_of,
)
from nodeagent.api.timefmt import parse_time

T0 = "2026-11-23T12:00:00Z"
T1 = "2026-11-23T12:05:00Z"

OWNER = {"metadata": {"name": "ds", "uid": "u-ds"}}
POD: Obj = {
    "metadata": {
        "name": "ds-abcde",
        "namespace": "kube-system",
        "uid": "u-pod",
        "labels": {"name": "ds"},
        "annotations": {"a": "b"},
        "ownerReferences": [
            {"kind": "Node", "uid": "u-node"},
            {"kind": "DaemonSet", "name": "ds", "uid": "u-ds", "controller": True},
        ],
    },
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T0}],
    },
}


def test_metadata_readers() -> None:
    """name, namespace, uid, labels and annotations come straight from metadata."""
    assert (name_of(POD), namespace_of(POD), uid_of(POD)) == ("ds-abcde", "kube-system", "u-pod")
    assert labels_of(POD) == {"name": "ds"}
    assert annotations_of(POD) == {"a": "b"}
    assert namespace_of({"metadata": {"name": "n"}}) == ""


@pytest.mark.parametrize(
    "obj", [{}, {"metadata": None}, {"metadata": {"labels": "x"}}, {"metadata": 7}]
)
def test_readers_tolerate_malformed_objects(obj: Obj) -> None:
    """Missing or wrongly typed metadata reads as empty."""
    assert (name_of(obj), labels_of(obj), controller_ref(obj)) == ("", {}, None)


def test_controller_ref_and_ownership() -> None:
    """Only the ownerReference with controller: true counts, matched by uid."""
    ref = controller_ref(POD)
    assert ref is not None
    assert ref["uid"] == "u-ds"
    assert is_controlled_by(POD, OWNER)
    assert not is_controlled_by(POD, {"metadata": {"uid": "u-node"}})
    assert not is_controlled_by(POD, {"metadata": {}})


def test_set_condition_keeps_transition_time_when_status_unchanged() -> None:
    """A heartbeat with the same status keeps lastTransitionTime; a flip sets it to now."""
    conds = [{"type": "Ready", "status": "True", "lastTransitionTime": T0}]
    same = set_condition(conds, {"type": "Ready", "status": "True", "reason": "KubeletReady"}, T1)
    assert same == [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastTransitionTime": T0}
    ]
    flipped = set_condition(conds, {"type": "Ready", "status": "False"}, T1)
    assert flipped[0]["lastTransitionTime"] == T1
    added = set_condition(conds, {"type": "MemoryPressure", "status": "False"}, T1)
    assert [c["type"] for c in added] == ["Ready", "MemoryPressure"]
    assert conds == [{"type": "Ready", "status": "True", "lastTransitionTime": T0}]


def test_get_condition_from_status_or_list() -> None:
    """get_condition takes a status dict or the conditions list."""
    assert get_condition(POD["status"], "Ready") == POD["status"]["conditions"][0]
    assert get_condition(POD["status"]["conditions"], "Ready") is not None
    assert get_condition(None, "Ready") is None


@pytest.mark.parametrize(
    ("min_ready", "now_offset", "available"),
    [
        pytest.param(0, 0, True, id="no-min-ready"),
        pytest.param(10, 5, False, id="not-yet"),
        pytest.param(10, 10, False, id="exactly-is-not-yet"),
        pytest.param(10, 60, True, id="long-ago"),
    ],
)
def test_pod_available_after_min_ready_seconds(
    min_ready: int, now_offset: int, available: bool
) -> None:
    """Available = Ready for at least minReadySeconds by lastTransitionTime."""
    now = parse_time(T0) + now_offset
    assert is_pod_available(POD, min_ready, now) is available


def test_pod_status_readers() -> None:
    """Ready, phase (Pending by default) and terminating."""
    assert is_pod_ready(POD)
    assert pod_phase(POD) == "Running"
    assert pod_phase({}) == "Pending"
    assert not is_pod_ready({})
    assert not is_pod_terminating(POD)
    assert is_pod_terminating({"metadata": {"deletionTimestamp": T1}})


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        pytest.param({"conditions": [{"type": "Ready", "status": "True"}]}, "True", id="ready"),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "False"}]}, "False", id="not-ready"
        ),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "Unknown"}]}, "Unknown", id="unknown"
        ),
        pytest.param({}, "Unknown", id="never-reported"),
    ],
)
def test_node_ready_status(status: Obj, shown: str) -> None:
    """A node without a Ready condition is Unknown, never a guessed False."""
    assert node_ready_status({"status": status}) == shown


def test_set_condition_ignores_a_new_time_when_status_is_unchanged() -> None:
    """A heartbeat carrying its own lastTransitionTime still keeps the old one."""
    conds = [{"type": "Ready", "status": "True", "lastTransitionTime": T0}]
    out = set_condition(conds, {"type": "Ready", "status": "True", "lastTransitionTime": T1}, T1)
    assert out[0]["lastTransitionTime"] == T0
    flipped = set_condition(
        conds, {"type": "Ready", "status": "False", "lastTransitionTime": T0}, T1
    )
    assert flipped[0]["lastTransitionTime"] == T0  # an explicit time for a real change is used
