"""Event objects for controllers: names that make repeats meet, and the TTL."""

from __future__ import annotations

from nodeagent.server.events import aggregate_key, event_name, expired, new_event

DS = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "fluentd", "namespace": "kube-system", "uid": "u1"},
}


def test_repeats_share_a_key_and_names_follow_time() -> None:
    """Repeats meet by their aggregation key; names are client-go's NAME.<hex unix nanos>, so
    one object's events sort by time."""
    a = aggregate_key(DS, type="Normal", reason="SuccessfulCreate", message="m", component="c")
    b = aggregate_key(DS, type="Normal", reason="SuccessfulCreate", message="m", component="c")
    c = aggregate_key(DS, type="Normal", reason="SuccessfulCreate", message="other", component="c")
    assert a == b != c
    assert event_name(DS, now=1.5) == "fluentd.59682f00"
    times = [1_790_000_000.0, 1_790_000_000.000001, 1_790_000_001.0, 1_790_000_100.0]
    names = [event_name(DS, now=t) for t in times]
    assert names == sorted(names)
    assert len(set(names)) == len(names)


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
