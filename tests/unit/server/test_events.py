"""Event objects for controllers: names that make repeats meet, and the TTL."""

from __future__ import annotations

from nodeagent.server.events import event_name, expired, new_event

DS = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "fluentd", "namespace": "kube-system", "uid": "u1"},
}


def test_repeats_share_a_name_and_differences_do_not() -> None:
    a = event_name(DS, type="Normal", reason="SuccessfulCreate", message="m", component="c")
    b = event_name(DS, type="Normal", reason="SuccessfulCreate", message="m", component="c")
    c = event_name(DS, type="Normal", reason="SuccessfulCreate", message="other", component="c")
    assert a == b != c
    assert a.startswith("fluentd.")


def test_new_event_shape() -> None:
    ev = new_event(
        DS,
        name="fluentd.x",
        type="Normal",
        reason="SuccessfulCreate",
        message="Created pod: fluentd-abcde",
        now=0.0,
        component="daemonset-controller",
    )
    assert ev["metadata"] == {"name": "fluentd.x", "namespace": "kube-system"}
    assert ev["involvedObject"]["kind"] == "DaemonSet"
    assert ev["involvedObject"]["uid"] == "u1"
    assert ev["count"] == 1
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "1970-01-01T00:00:00Z"
    assert ev["source"] == {"component": "daemonset-controller"}


def test_expiry() -> None:
    ev = {"lastTimestamp": "1970-01-01T00:00:00Z"}
    assert not expired(ev, now=3599.0)
    assert expired(ev, now=3601.0)
