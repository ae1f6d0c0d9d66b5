"""Defaults are those the API server applies, and nothing already set is overwritten."""

from __future__ import annotations

import copy

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.defaults import (
    default_daemonset,
    default_node,
    default_object,
    default_pod,
    default_pod_spec,
    image_pull_policy,
)


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        pytest.param("busybox", "Always", id="no-tag"),
        pytest.param("busybox:latest", "Always", id="latest"),
        pytest.param("busybox:1.36", "IfNotPresent", id="tag"),
        pytest.param("registry:5000/team/app", "Always", id="registry-port-no-tag"),
        pytest.param("registry:5000/team/app:v2", "IfNotPresent", id="registry-port-tag"),
        pytest.param("app@sha256:" + "a" * 64, "IfNotPresent", id="digest"),
        pytest.param("app:latest@sha256:" + "a" * 64, "IfNotPresent", id="tag-and-digest"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    """Always for :latest or no tag, IfNotPresent otherwise (digests too)."""
    assert image_pull_policy(image) == policy


def test_daemonset_defaults_match_the_api_server(fluentd: Obj) -> None:
    """A defaulted seed DaemonSet has what `kubectl get ds -o yaml` shows."""
    ds = default_daemonset(fluentd)
    spec = ds["spec"]
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert "minReadySeconds" not in spec  # 0 is omitted, as the API server does
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["schedulerName"] == "default-scheduler"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"] == {}
    container = pod["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert pod["volumes"][0]["hostPath"] == {"path": "/var/log", "type": ""}
    assert spec["template"]["metadata"] == {"labels": {"name": "fluentd-elasticsearch"}}
    assert ds["metadata"]["namespace"] == "kube-system"


def test_defaulting_returns_a_new_object(fluentd: Obj) -> None:
    """The input is never modified."""
    before = copy.deepcopy(fluentd)
    default_object(fluentd)
    assert fluentd == before


def test_defaulting_is_idempotent(fluentd: Obj) -> None:
    """Defaulting a defaulted object changes nothing."""
    once = default_object(fluentd)
    assert default_object(once) == once


def test_nothing_set_is_overwritten() -> None:
    """Explicit values win over every default."""
    ds = {
        "kind": "DaemonSet",
        "metadata": {"name": "x", "namespace": "ops"},
        "spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "10%"}},
            "revisionHistoryLimit": 3,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "c",
                            "image": "i",
                            "imagePullPolicy": "Never",
                            "ports": [{"containerPort": 53, "protocol": "UDP"}],
                        }
                    ],
                }
            },
        },
    }
    out = default_daemonset(ds)
    assert out["metadata"]["namespace"] == "ops"
    ru = out["spec"]["updateStrategy"]["rollingUpdate"]
    assert ru == {"maxSurge": "10%", "maxUnavailable": 1}
    assert out["spec"]["revisionHistoryLimit"] == 3
    pod = out["spec"]["template"]["spec"]
    assert (pod["restartPolicy"], pod["terminationGracePeriodSeconds"]) == ("Never", 5)
    assert pod["containers"][0]["imagePullPolicy"] == "Never"
    assert pod["containers"][0]["ports"][0]["protocol"] == "UDP"


def test_on_delete_strategy_gets_no_rolling_update() -> None:
    """rollingUpdate is only defaulted for the RollingUpdate type."""
    out = default_daemonset({"kind": "DaemonSet", "spec": {"updateStrategy": {"type": "OnDelete"}}})
    assert out["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_pod_defaults() -> None:
    """A Pod gets namespace default, port protocol, probe and requests-from-limits defaults."""
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "hostNetwork": True,
            "containers": [
                {
                    "name": "c",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"memory": "64Mi"}},
                    "livenessProbe": {"httpGet": {"port": 80}},
                }
            ],
            "volumes": [{"name": "scratch"}],
        },
    }
    out = default_pod(pod)
    assert out["metadata"]["namespace"] == "default"
    spec = out["spec"]
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["ports"][0] == {"containerPort": 80, "protocol": "TCP", "hostPort": 80}
    assert container["resources"]["requests"] == {"memory": "64Mi"}
    assert container["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}}]
    assert spec["enableServiceLinks"] is True


def test_pod_spec_defaults_without_pod_only_fields() -> None:
    """A bare pod spec (a template's) gets no enableServiceLinks."""
    spec = default_pod_spec({"containers": [{"name": "c", "image": "i:1"}]})
    assert "enableServiceLinks" not in spec
    assert spec["restartPolicy"] == "Always"


def test_node_allocatable_defaults_to_capacity() -> None:
    """A Node without allocatable gets its capacity; no namespace for cluster objects."""
    out = default_node(
        {"kind": "Node", "metadata": {"name": "n"}, "status": {"capacity": {"cpu": "2"}}}
    )
    assert out["status"]["allocatable"] == {"cpu": "2"}
    assert "namespace" not in out["metadata"]


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"kind": "DaemonSet", "spec": "nope"}, id="spec-not-object"),
        pytest.param({"kind": "Pod", "spec": {"containers": "x"}}, id="containers-not-list"),
        pytest.param({"kind": ["Pod"]}, id="kind-not-string"),
        pytest.param({"kind": "Pod", "metadata": 3}, id="metadata-not-object"),
        pytest.param(
            {"kind": "DaemonSet", "spec": {"updateStrategy": {"rollingUpdate": 5}}}, id="ru-int"
        ),
    ],
)
def test_wrong_types_are_left_for_validation(obj: Obj) -> None:
    """Defaulting never raises on malformed objects."""
    default_object(obj)


def test_host_network_ports_default_in_pods_not_templates() -> None:
    """hostPort = containerPort is a Pod default; a DaemonSet template keeps it unset."""
    spec = {
        "hostNetwork": True,
        "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 9100}]}],
    }
    ds = default_daemonset({"kind": "DaemonSet", "spec": {"template": {"spec": spec}}})
    assert ds["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 9100, "protocol": "TCP"}
    ]
    pod = default_pod({"kind": "Pod", "spec": spec})
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 9100
