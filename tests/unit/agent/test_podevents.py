"""kubelet's pod events from status changes: what `kubectl describe pod` lists under Events."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.podevents import (
    event_key,
    go_duration,
    pod_event,
    pod_events,
    pulled_event,
    pulling_event,
    warning_event,
)

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


def test_a_new_container_is_created_started() -> None:
    """Pulled is not derived from the status (the executor records what the pull did)."""
    got = pod_events(POD, _status(waiting="ContainerCreating"), _status(cid="docker://a"))
    assert got == [
        ("Normal", "Created", "Created container: c"),
        ("Normal", "Started", "Started container c"),
    ]


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


def test_event_object_is_about_the_pod_and_a_repeat_has_the_same_key() -> None:
    """A repeat has the same key, so the agent bumps its count instead of adding a row; the
    name is client-go's POD.<hex unix nanoseconds>."""
    started = ("Normal", "Started", "Started container c")
    one = pod_event(POD, started, node_name="n1", now=1.5)
    assert event_key(POD, started) == event_key(POD, started)
    assert event_key(POD, started) != event_key(POD, ("Normal", "Started", "Started container d"))
    assert one["metadata"]["name"] == "p.59682f00"
    assert one["metadata"]["namespace"] == "ns"
    assert one["involvedObject"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "name": "p",
        "namespace": "ns",
        "uid": "u1",
    }
    assert one["source"] == {"component": "nodeagent", "host": "n1"}


def test_names_sort_in_the_order_they_were_recorded() -> None:
    """Created, Started recorded one after another within a second list in that order
    (kubectl get events lists in name order)."""
    got = [pulling_event("img:1"), *pod_events(POD, None, _status(cid="docker://a"))]
    assert [reason for _type, reason, _message in got] == ["Pulling", "Created", "Started"]
    times = (1_790_000_000.1, 1_790_000_000.100001, 1_790_000_000.9)
    names = [
        pod_event(POD, e, node_name="n1", now=t)["metadata"]["name"]
        for e, t in zip(got, times, strict=True)
    ]
    assert names == sorted(names)


def test_durations_read_as_go_writes_them() -> None:
    """kubelet prints pull times with Go's Duration.String, truncated to milliseconds."""
    assert [
        go_duration(s) for s in (0.0, 0.0004, 0.313, 0.9999, 1.0, 1.234, 1.5, 7.2649, 60.0)
    ] == ["0s", "0s", "313ms", "999ms", "1s", "1.234s", "1.5s", "7.264s", "1m0s"]
    assert go_duration(62.034) == "1m2.034s"
    assert go_duration(3_600.5) == "1h0m0.5s"


def test_image_events_say_what_the_pull_did() -> None:
    assert pulling_event("busybox:1.36") == ("Normal", "Pulling", 'Pulling image "busybox:1.36"')
    assert pulled_event("busybox:1.36", pulled=True, seconds=1.2345, size=2156789) == (
        "Normal",
        "Pulled",
        'Successfully pulled image "busybox:1.36" in 1.234s (1.234s including waiting).'
        " Image size: 2156789 bytes.",
    )
    assert pulled_event("b:1", pulled=True, seconds=0.05, size=None)[2] == (
        'Successfully pulled image "b:1" in 50ms (50ms including waiting).'
    )
    assert pulled_event("busybox:1.36", pulled=False, seconds=0.0, size=5) == (
        "Normal",
        "Pulled",
        'Container image "busybox:1.36" already present on machine',
    )


def test_create_failures_are_failed_events() -> None:
    """CreateContainerConfigError and CreateContainerError: Warning Failed "Error: ..." as
    kubelet's startContainer records them, once per episode."""
    missing = _status(waiting="CreateContainerConfigError", message='configmap "x" not found')
    assert pod_events(POD, _status(waiting="ContainerCreating"), missing) == [
        ("Warning", "Failed", 'Error: configmap "x" not found')
    ]
    assert pod_events(POD, missing, missing) == []
    refused = _status(
        waiting="CreateContainerError", message="Back-off 10s starting container=c: no such image"
    )
    assert pod_events(POD, None, refused) == [("Warning", "Failed", "Error: no such image")]


def test_fields_not_honoured_are_warning_events() -> None:
    """A warning from the conversion is a Warning event; skipped envFrom keys keep kubelet's
    own reason."""
    assert warning_event("spec.runtimeClassName is not supported") == (
        "Warning",
        "NotSupported",
        "spec.runtimeClassName is not supported",
    )
    skipped = "Keys [a b] from the EnvFrom configmap ns/c were skipped since ..."
    assert warning_event(skipped) == ("Warning", "InvalidEnvironmentVariableNames", skipped)
