"""kubelet's pod events from status changes: what `kubectl describe pod` lists under Events."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.podevents import pod_event, pod_events

POD: dict[str, Any] = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}


def _status(*, cid: str = "", waiting: str = "", message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = (
        {"waiting": {"reason": waiting, "message": message}}
        if waiting
        else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    )
    s: dict[str, Any] = {"name": "c", "image": "img:1", "state": state}
    if cid:
        s["containerID"] = cid
    return {"containerStatuses": [s]}


def test_a_new_container_is_pulled_created_started() -> None:
    got = pod_events(POD, _status(waiting="ContainerCreating"), _status(cid="docker://a"))
    assert [r for _t, r, _m in got] == ["Pulled", "Created", "Started"]
    assert got[1][2] == "Created container: c"
    assert got[2][2] == "Started container c"


def test_an_unchanged_status_records_nothing() -> None:
    assert pod_events(POD, _status(cid="docker://a"), _status(cid="docker://a")) == []


def test_pull_failure_then_backoff() -> None:
    failed = _status(waiting="ErrImagePull", message="no such host")
    assert pod_events(POD, _status(waiting="ContainerCreating"), failed) == [
        ("Warning", "Failed", 'Failed to pull image "img:1": no such host')
    ]
    again = _status(
        waiting="ErrImagePull", message="Back-off 20s starting container=c: no such host"
    )
    assert pod_events(POD, _status(waiting="ImagePullBackOff"), again) == [
        ("Warning", "Failed", 'Failed to pull image "img:1": no such host')
    ]
    assert pod_events(POD, failed, _status(waiting="ImagePullBackOff")) == [
        ("Normal", "BackOff", 'Back-off pulling image "img:1"')
    ]


def test_crash_loop_backoff() -> None:
    got = pod_events(
        POD, _status(cid="docker://a"), _status(cid="docker://a", waiting="CrashLoopBackOff")
    )
    assert got == [("Warning", "BackOff", "Back-off restarting failed container c in pod p_ns(u1)")]


def test_event_object_is_about_the_pod_and_stable_per_message() -> None:
    """A repeat gets the same name, so the agent bumps its count instead of adding a row."""
    one = pod_event(POD, ("Normal", "Started", "Started container c"), node_name="n1", now=1e9)
    two = pod_event(POD, ("Normal", "Started", "Started container c"), node_name="n1", now=2e9)
    assert one["metadata"]["name"] == two["metadata"]["name"]
    assert one["metadata"]["namespace"] == "ns"
    assert one["involvedObject"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "name": "p",
        "namespace": "ns",
        "uid": "u1",
    }
    assert one["source"] == {"component": "nodeagent", "host": "n1"}


def test_names_sort_in_kubelet_order() -> None:
    """Pulled, Created, Started of one second list in that order (kubectl sorts ties by name)."""
    got = pod_events(POD, None, _status(cid="docker://a"))
    names = [pod_event(POD, e, node_name="n1", now=1e9)["metadata"]["name"] for e in got]
    assert names == sorted(names)
