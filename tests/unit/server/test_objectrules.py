"""The registry's pure per-kind rules: pod grace, when a terminating object goes, QoS, Invalid."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.api.errors import FieldError
from nodeagent.api.resources import BY_NAME
from nodeagent.server.objectrules import finished, invalid, pod_grace, qos_class


@pytest.mark.parametrize(
    ("spec", "phase", "asked", "grace"),
    [
        ({}, "Running", None, 0),  # unbound: at once
        ({"nodeName": "n1"}, "Running", None, 30),
        ({"nodeName": "n1", "terminationGracePeriodSeconds": 5}, "Running", None, 5),
        ({"nodeName": "n1"}, "Running", 2, 2),
        ({"nodeName": "n1"}, "Succeeded", None, 0),  # finished: at once
        ({"nodeName": "n1"}, "Running", -3, 0),
    ],
)
def test_pod_grace(spec: dict[str, Any], phase: str, asked: int | None, grace: int) -> None:
    assert pod_grace({"spec": spec, "status": {"phase": phase}}, asked) == grace


def test_finished() -> None:
    pods, ds = BY_NAME["pods"], BY_NAME["daemonsets"]
    going = {"metadata": {"deletionTimestamp": "t", "deletionGracePeriodSeconds": 0}}
    assert finished(pods, going)
    assert not finished(
        pods, {"metadata": {"deletionTimestamp": "t", "deletionGracePeriodSeconds": 30}}
    )
    assert not finished(ds, {"metadata": {"deletionTimestamp": "t", "finalizers": ["orphan"]}})
    assert finished(ds, {"metadata": {"deletionTimestamp": "t"}})
    assert not finished(ds, {"metadata": {}})


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        ({"requests": {"cpu": "1"}}, "Burstable"),
    ],
)
def test_qos_class(resources: dict[str, Any], qos: str) -> None:
    assert qos_class({"spec": {"containers": [{"name": "c", "resources": resources}]}}) == qos


def test_invalid_wording() -> None:
    one = FieldError(field="spec.x", type="Required value", reason="FieldValueRequired")
    two = FieldError(field="spec.y", type="Invalid value", value=3, detail="too big")
    err = invalid(BY_NAME["daemonsets"], "bad", [one])
    assert err.message == 'DaemonSet.apps "bad" is invalid: spec.x: Required value'
    err = invalid(BY_NAME["pods"], "p", [one, two])
    assert (
        err.message
        == 'Pod "p" is invalid: [spec.x: Required value, spec.y: Invalid value: 3: too big]'
    )
    assert err.status_body()["details"]["causes"][1]["field"] == "spec.y"
