# ruff: noqa: E501  (expected messages are the API server's words, kept whole for grepping)
"""Validation reports every error at once, with the API server's paths and wording."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeagent.api.bodies import Obj
from nodeagent.api.defaults import default_object
from nodeagent.api.errors import FieldError
from nodeagent.api.validation import (
    validate_daemonset_update,
    validate_object,
    validate_pod_spec,
    validate_update,
)

from .conftest import SEED_FILES, load_fixture

Edit = Callable[[Obj], None]


def lines(errors: list[FieldError]) -> list[str]:
    return [str(e) for e in errors]


def check(obj: Obj) -> list[str]:
    return lines(validate_object(default_object(obj)))


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_seed_daemonsets_are_valid(path: Any) -> None:
    """The seeds' DaemonSets validate once defaulted."""
    assert check(load_fixture(path.name)) == []


def tspec(ds: Obj) -> Obj:
    spec: Obj = ds["spec"]["template"]["spec"]
    return spec


def _restart_never(ds: Obj) -> None:
    tspec(ds)["restartPolicy"] = "Never"


def _selector_mismatch(ds: Obj) -> None:
    ds["spec"]["selector"] = {"matchLabels": {"name": "other"}}


def _no_containers(ds: Obj) -> None:
    tspec(ds)["containers"] = []


def _no_image(ds: Obj) -> None:
    del tspec(ds)["containers"][0]["image"]


def _no_selector(ds: Obj) -> None:
    del ds["spec"]["selector"]


def _bad_name(ds: Obj) -> None:
    ds["metadata"]["name"] = "Fluentd_ES"


MISMATCH = (
    'spec.template.metadata.labels: Invalid value: {"name":"fluentd-elasticsearch"}:'
    " `selector` does not match template `labels`"
)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            _restart_never,
            [
                'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
            ],
            id="restart-policy-never",
        ),
        pytest.param(_selector_mismatch, [MISMATCH], id="selector-does-not-match"),
        pytest.param(
            _no_containers, ["spec.template.spec.containers: Required value"], id="no-containers"
        ),
        pytest.param(
            _no_image, ["spec.template.spec.containers[0].image: Required value"], id="no-image"
        ),
        pytest.param(
            _no_selector,
            # apps/v1 requires it (no default from the template's labels since 1.8), and a
            # nil selector selects nothing, so the mismatch is reported too
            ["spec.selector: Required value", MISMATCH],
            id="no-selector",
        ),
        pytest.param(
            _bad_name,
            [
                'metadata.name: Invalid value: "Fluentd_ES": a lowercase RFC 1123 subdomain must consist'
                " of lower case alphanumeric characters, '-' or '.', and must start and end with an"
                " alphanumeric character (e.g. 'example.com', regex used for validation is"
                " '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ],
            id="bad-name",
        ),
    ],
)
def test_broken_seed_copies_fail_with_the_right_path(
    fluentd: Obj, edit: Edit, expected: list[str]
) -> None:
    """Each break of the seed DaemonSet gives exactly the API server's error."""
    edit(fluentd)
    assert check(fluentd) == expected


def test_all_errors_at_once_ordered_by_path(fluentd: Obj) -> None:
    """Several problems are all reported, ordered by field path."""
    _restart_never(fluentd)
    _selector_mismatch(fluentd)
    _no_containers(fluentd)
    _bad_name(fluentd)
    fields = [e.field for e in validate_object(default_object(fluentd))]
    assert fields == [
        "metadata.name",
        "spec.template.metadata.labels",
        "spec.template.spec.containers",
        "spec.template.spec.restartPolicy",
    ]


def pod(**spec: Any) -> Obj:
    base: Obj = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": base}


def container(**fields: Any) -> Obj:
    return {"name": "c", "image": "busybox:1.36", **fields}


PORT_RANGE = "must be between 1 and 65535, inclusive"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(pod(), [], id="valid"),
        pytest.param(
            pod(containers=[container(), container()]),
            ['spec.containers[1].name: Duplicate value: "c"'],
            id="duplicate-container-names",
        ),
        pytest.param(
            pod(containers=[container(name="Web_1")]),
            [
                'spec.containers[0].name: Invalid value: "Web_1": a lowercase RFC 1123 label must consist'
                " of lower case alphanumeric characters or '-', and must start and end with an alphanumeric"
                " character (e.g. 'my-name',  or '123-abc', regex used for validation is"
                " '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ],
            id="container-name-dns-label",
        ),
        pytest.param(
            pod(containers=[container(ports=[{"containerPort": 0}, {"containerPort": 70000}])]),
            [
                "spec.containers[0].ports[0].containerPort: Required value",
                f"spec.containers[0].ports[1].containerPort: Invalid value: 70000: {PORT_RANGE}",
            ],
            id="port-range",
        ),
        pytest.param(
            pod(containers=[container(ports=[{"containerPort": 80, "hostPort": 65536}])]),
            [f"spec.containers[0].ports[0].hostPort: Invalid value: 65536: {PORT_RANGE}"],
            id="host-port-range",
        ),
        pytest.param(
            pod(containers=[container(ports=[{"containerPort": 80, "protocol": "HTTP"}])]),
            [
                'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values:'
                ' "SCTP", "TCP", "UDP"'
            ],
            id="protocol",
        ),
        pytest.param(
            pod(
                containers=[
                    container(ports=[{"containerPort": 80, "hostPort": 8080}]),
                    container(name="d", ports=[{"containerPort": 81, "hostPort": 8080}]),
                ]
            ),
            ['spec.containers[1].ports[0].hostPort: Duplicate value: "8080/TCP"'],
            id="host-port-twice",
        ),
        pytest.param(
            pod(
                hostNetwork=True,
                containers=[container(ports=[{"containerPort": 80, "hostPort": 81}])],
            ),
            [
                "spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort`"
                " when `hostNetwork` is true"
            ],
            id="host-network-port",
        ),
        pytest.param(
            pod(containers=[container(imagePullPolicy="Sometimes")]),
            [
                'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values:'
                ' "Always", "IfNotPresent", "Never"'
            ],
            id="pull-policy",
        ),
        pytest.param(
            pod(restartPolicy="Sometimes"),
            [
                'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always",'
                ' "OnFailure", "Never"'
            ],
            id="restart-policy",
        ),
        pytest.param(
            pod(
                containers=[
                    container(resources={"limits": {"memory": "200Xi"}, "requests": {"cpu": "-1"}})
                ]
            ),
            [
                'spec.containers[0].resources.limits[memory]: Invalid value: "200Xi": quantities must'
                " match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                'spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than'
                " or equal to 0",
                # a Pod's requests default to its limits, so the bad limit shows there too
                'spec.containers[0].resources.requests[memory]: Invalid value: "200Xi": quantities'
                " must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ],
            id="quantities",
        ),
        pytest.param(
            pod(
                containers=[
                    container(
                        resources={"limits": {"memory": "100Mi"}, "requests": {"memory": "200Mi"}}
                    )
                ]
            ),
            [
                'spec.containers[0].resources.requests[memory]: Invalid value: "200Mi": must be less'
                " than or equal to memory limit of 100Mi"
            ],
            id="request-over-limit",
        ),
        pytest.param(
            pod(
                volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}],
                containers=[container(volumeMounts=[{"name": "w", "mountPath": "/w"}])],
            ),
            [
                'spec.containers[0].volumeMounts[0].name: Not found: "w"',
                'spec.volumes[1].name: Duplicate value: "v"',
            ],
            id="volumes",
        ),
        pytest.param(
            pod(volumes=[{"name": "v", "hostPath": {"path": "/x"}, "emptyDir": {}}]),
            ["spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type"],
            id="two-volume-sources",
        ),
        pytest.param(
            pod(volumes=[{"name": "v", "hostPath": {"path": "/x", "type": "Dir"}}]),
            [
                'spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values:'
                ' "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File",'
                ' "FileOrCreate", "Socket"'
            ],
            id="host-path-type",
        ),
        pytest.param(
            pod(volumes=[{"name": "v", "hostPath": {"path": "/var/log/../../etc"}}]),
            [
                "spec.volumes[0].hostPath.path: Invalid value: \"/var/log/../../etc\": must not contain '..'"
            ],
            id="host-path-backsteps",
        ),
        pytest.param(
            pod(volumes=[{"name": "v", "hostPath": {"path": "/var/lib/..data/x.."}}]),
            [],  # only a whole ".." component is a backstep (validatePathNoBacksteps)
            id="host-path-dots-in-names",
        ),
        pytest.param(
            pod(containers=[container(livenessProbe={})]),
            ["spec.containers[0].livenessProbe: Required value: must specify a handler type"],
            id="probe-no-handler",
        ),
        pytest.param(
            pod(
                containers=[
                    container(
                        readinessProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}
                    )
                ]
            ),
            [
                "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1"
                " handler type"
            ],
            id="probe-two-handlers",
        ),
        pytest.param(
            pod(
                containers=[
                    container(livenessProbe={"httpGet": {"port": 0}, "successThreshold": 2})
                ]
            ),
            [
                f"spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: {PORT_RANGE}",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            ],
            id="probe-fields",
        ),
        pytest.param(
            pod(tolerations=[{"key": "k", "operator": "Exists", "value": "v", "effect": "Never"}]),
            [
                'spec.tolerations[0].effect: Unsupported value: "Never": supported values:'
                ' "NoSchedule", "PreferNoSchedule", "NoExecute"',
                'spec.tolerations[0].operator: Invalid value: {"key":"k","operator":"Exists","value":"v","effect":"Never"}:'
                " value must be empty when `operator` is 'Exists'",
            ],
            id="toleration-effect-and-value",
        ),
        pytest.param(
            pod(tolerations=[{"operator": "Equal", "value": "x"}]),
            [
                'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when'
                ' `key` is empty, which means "match all values and all keys"'
            ],
            id="toleration-empty-key",
        ),
        pytest.param(
            pod(tolerations=[{"key": "k", "operator": "Exists", "tolerationSeconds": 5}]),
            [
                "spec.tolerations[0].effect: Invalid value: \"\": effect must be 'NoExecute' when"
                " `tolerationSeconds` is set"
            ],
            id="toleration-seconds",
        ),
        pytest.param(
            pod(tolerations=[{"key": "k", "operator": "Gt"}]),
            [
                'spec.tolerations[0].operator: Unsupported value: "Gt": supported values: "Equal", "Exists"'
            ],
            id="toleration-operator",
        ),
        pytest.param(
            pod(
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "zone", "operator": "In"}]}
                            ]
                        }
                    }
                }
            ),
            [
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                ".nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified"
                " when `operator` is 'In' or 'NotIn'"
            ],
            id="affinity-in-without-values",
        ),
        pytest.param(
            pod(nodeSelector={"disk": "s s"}),
            [
                'spec.nodeSelector: Invalid value: "s s": a valid label must be an empty string or'
                " consist of alphanumeric characters, '-', '_' or '.', and must start and end with an"
                " alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for"
                " validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            ],
            id="node-selector-value",
        ),
        pytest.param(
            {
                "kind": "Pod",
                "metadata": {"name": "p", "labels": {"a/b/c": "x"}},
                "spec": pod()["spec"],
            },
            [
                'metadata.labels: Invalid value: "a/b/c": a qualified name must consist of alphanumeric'
                " characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                " (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is"
                " '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix"
                " and '/' (e.g. 'example.com/MyName')"
            ],
            id="label-key",
        ),
        pytest.param(
            {"kind": "Pod", "metadata": {}, "spec": pod()["spec"]},
            ["metadata.name: Required value: name or generateName is required"],
            id="no-name",
        ),
        pytest.param(
            {"kind": "Pod", "metadata": {"generateName": "web-"}, "spec": pod()["spec"]},
            [],
            id="generate-name",
        ),
        pytest.param(
            {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": "nope"}},
            ['spec.containers: Invalid value: "nope": must be a list'],
            id="wrong-type",
        ),
        pytest.param(
            {
                "apiVersion": "apps/v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": pod()["spec"],
            },
            ['apiVersion: Unsupported value: "apps/v1": supported values: "v1"'],
            id="wrong-api-version",
        ),
        pytest.param(
            {"kind": "Deployment"},
            [
                'kind: Unsupported value: "Deployment": supported values: "Pod", "DaemonSet", "Node",'
                ' "Namespace", "ControllerRevision", "Lease", "Event", "ConfigMap", "Secret",'
                ' "ServiceAccount",'
                ' "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"'
            ],
            id="unknown-kind",
        ),
        pytest.param({}, ["kind: Required value"], id="no-kind"),
    ],
)
def test_rules(obj: Obj, expected: list[str]) -> None:
    """Each rule of the API server, with its path and wording."""
    assert check(obj) == expected


def ds_with_strategy(strategy: Any) -> Obj:
    ds = load_fixture("daemonset-example.yaml")
    ds["spec"]["updateStrategy"] = strategy
    return ds


RU = "spec.updateStrategy.rollingUpdate"


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param({"type": "OnDelete"}, [], id="on-delete"),
        pytest.param({"rollingUpdate": {"maxUnavailable": "25%"}}, [], id="percent"),
        pytest.param(
            {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "10%"}}, [], id="surge-only"
        ),
        pytest.param(
            {"rollingUpdate": {"maxUnavailable": 0}},
            [f"{RU}.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"],
            id="both-zero",
        ),
        pytest.param(
            {"rollingUpdate": {"maxSurge": 1}},
            [f"{RU}.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"],
            id="both-set",
        ),
        pytest.param(
            {"rollingUpdate": {"maxUnavailable": "150%"}},
            [f'{RU}.maxUnavailable: Invalid value: "150%": must not be greater than 100%'],
            id="over-100",
        ),
        pytest.param(
            {"rollingUpdate": {"maxUnavailable": -1}},
            [f"{RU}.maxUnavailable: Invalid value: -1: must be greater than or equal to 0"],
            id="negative",
        ),
        pytest.param(
            {"rollingUpdate": {"maxUnavailable": "1x"}},
            [
                f'{RU}.maxUnavailable: Invalid value: "1x": a valid percent string must be a numeric'
                " string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation"
                " is '[0-9]+%')",
                f"{RU}.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
            ],
            id="bad-percent",
        ),
        pytest.param(
            {"type": "Recreate"},
            [
                'spec.updateStrategy.type: Unsupported value: "Recreate": supported values:'
                ' "RollingUpdate", "OnDelete"'
            ],
            id="bad-type",
        ),
    ],
)
def test_daemonset_update_strategy(strategy: Any, expected: list[str]) -> None:
    """maxUnavailable/maxSurge are ints or percents, exactly one non-zero."""
    assert check(ds_with_strategy(strategy)) == expected


def test_daemonset_empty_selector_is_invalid() -> None:
    """An empty selector would select every pod: refused."""
    ds = load_fixture("daemonset-example.yaml")
    ds["spec"]["selector"] = {}
    assert check(ds) == [
        "spec.selector: Invalid value: {}: empty selector is invalid for daemonset"
    ]


def test_daemonset_selector_is_immutable() -> None:
    """An update may not change spec.selector, whatever else it changes."""
    old = default_object(load_fixture("daemonset-example.yaml"))
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"name": "daemonset-example", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert lines(validate_daemonset_update(new, old)) == [
        'spec.selector: Invalid value: {"matchLabels":{"name":"daemonset-example","tier":"x"}}:'
        " field is immutable"
    ]
    same = copy.deepcopy(old)
    same["spec"]["template"]["spec"]["containers"][0]["image"] = "heqingbao/k8s_myapp:v2"
    assert validate_daemonset_update(same, old) == []


def test_validate_pod_spec_at_a_path() -> None:
    """validate_pod_spec prefixes every error with the path given."""
    errors = validate_pod_spec({"containers": [{"name": "c"}]}, "spec.template.spec")
    assert lines(errors) == ["spec.template.spec.containers[0].image: Required value"]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            {
                "kind": "Node",
                "metadata": {"name": "node01"},
                "spec": {
                    "taints": [
                        {"key": "a", "effect": "NoSchedule"},
                        {"key": "a", "effect": "NoSchedule"},
                    ]
                },
            },
            ['spec.taints[1]: Duplicate value: "a:NoSchedule"'],
            id="node-duplicate-taint",
        ),
        pytest.param(
            {
                "kind": "Node",
                "metadata": {"name": "n", "namespace": "x"},
                "spec": {"taints": [{"key": "a"}]},
            },
            [
                "metadata.namespace: Forbidden: not allowed on this type",
                "spec.taints[0].effect: Required value",
            ],
            id="node-namespace-and-effect",
        ),
        pytest.param(
            {"kind": "Namespace", "metadata": {"name": "a.b"}},
            [
                'metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label must consist of lower'
                " case alphanumeric characters or '-', and must start and end with an alphanumeric"
                " character (e.g. 'my-name',  or '123-abc', regex used for validation is"
                " '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ],
            id="namespace-dns-label",
        ),
        pytest.param(
            {"kind": "ControllerRevision", "metadata": {"name": "r"}, "revision": -1},
            [
                "data: Required value: data is mandatory",
                "revision: Invalid value: -1: must be greater than or equal to 0",
            ],
            id="controller-revision",
        ),
        pytest.param(
            {
                "kind": "Lease",
                "metadata": {"name": "n", "namespace": "kube-node-lease"},
                "spec": {"leaseDurationSeconds": 0},
            },
            ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"],
            id="lease",
        ),
        pytest.param(
            {"kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"namespace": "other"}},
            ['involvedObject.namespace: Invalid value: "other": does not match event.namespace'],
            id="event",
        ),
    ],
)
def test_other_kinds(obj: Obj, expected: list[str]) -> None:
    """Nodes, Namespaces, ControllerRevisions, Leases and Events are checked too."""
    assert check(obj) == expected


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
_keys = st.sampled_from(
    [
        "metadata",
        "spec",
        "selector",
        "template",
        "containers",
        "name",
        "image",
        "ports",
        "containerPort",
        "hostPort",
        "volumes",
        "volumeMounts",
        "tolerations",
        "affinity",
        "updateStrategy",
        "rollingUpdate",
        "maxUnavailable",
        "resources",
        "limits",
        "labels",
        "matchLabels",
        "matchExpressions",
        "livenessProbe",
        "httpGet",
        "port",
        "taints",
    ]
)
_shaped = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.sampled_from(["", "a", "10%", "1Gi", "Exists", "In"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["Pod", "DaemonSet", "Node", "Lease", "Event", "ControllerRevision"]),
    _json | _shaped,
)
def test_validate_never_raises(kind: str, body: Any) -> None:
    """However malformed, an object gets errors back, never an exception."""
    obj = body if isinstance(body, dict) else {"spec": body}
    obj = {**obj, "kind": kind}
    errors = validate_object(default_object(obj))
    assert all(isinstance(e, FieldError) and str(e) for e in errors)


def _running_pod() -> Obj:
    return default_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {
                "containers": [{"name": "c", "image": "busybox:1.36"}],
                "tolerations": [{"key": "k", "operator": "Exists"}],
            },
        }
    )


def _pod_edit_image(p: Obj) -> None:
    p["spec"]["containers"][0]["image"] = "busybox:1.37"


def _pod_add_toleration(p: Obj) -> None:
    p["spec"]["tolerations"].append({"key": "x", "operator": "Exists"})


def _pod_relabel(p: Obj) -> None:
    p["metadata"]["labels"]["a"] = "c"


def _pod_deadline(p: Obj) -> None:
    p["spec"]["activeDeadlineSeconds"] = 30


def _pod_remove_toleration(p: Obj) -> None:
    p["spec"]["tolerations"] = []


def _pod_change_env(p: Obj) -> None:
    p["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]


def _pod_move(p: Obj) -> None:
    p["spec"]["nodeName"] = "node02"


@pytest.mark.parametrize(
    ("edit", "allowed"),
    [
        pytest.param(_pod_edit_image, True, id="image"),
        pytest.param(_pod_add_toleration, True, id="add-toleration"),
        pytest.param(_pod_relabel, True, id="labels"),
        pytest.param(_pod_deadline, True, id="active-deadline"),
        pytest.param(_pod_remove_toleration, False, id="remove-toleration"),
        pytest.param(_pod_change_env, False, id="env"),
        pytest.param(_pod_move, False, id="node-name"),
    ],
)
def test_pod_updates_may_change_only_some_fields(edit: Edit, allowed: bool) -> None:
    """ValidatePodUpdate: images, activeDeadlineSeconds, added tolerations; metadata freely."""
    old = _running_pod()
    new = copy.deepcopy(old)
    edit(new)
    errors = lines(validate_update(new, old))
    if allowed:
        assert errors == []
    else:
        assert len(errors) == 1
        assert errors[0].startswith(
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
        )


def test_update_rules_for_kinds_without_any() -> None:
    """Kinds with no update-only rule give no errors from validate_update."""
    ns = {"kind": "Namespace", "metadata": {"name": "n", "labels": {"a": "b"}}}
    assert validate_update(ns, {"kind": "Namespace", "metadata": {"name": "n"}}) == []


def _node(**spec: Any) -> Obj:
    return {"kind": "Node", "metadata": {"name": "n"}, "spec": spec}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(_node(), _node(unschedulable=True), [], id="cordon"),
        pytest.param(_node(), _node(podCIDR="10.1.0.0/24"), [], id="cidr-from-unset"),
        pytest.param(
            _node(podCIDR="10.1.0.0/24", podCIDRs=["10.1.0.0/24"]),
            _node(podCIDR="10.1.0.0/24", podCIDRs=["10.1.0.0/24"], unschedulable=True),
            [],
            id="cidr-kept",
        ),
        pytest.param(
            _node(podCIDRs=["10.1.0.0/24"]),
            _node(podCIDRs=["10.9.0.0/24"]),
            [
                'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid'
            ],
            id="cidr-changed",
        ),
        pytest.param(
            _node(podCIDR="10.1.0.0/24"),
            _node(),
            [
                'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid'
            ],
            id="cidr-removed",
        ),
        pytest.param(_node(), _node(providerID="aws:///i-1"), [], id="provider-from-unset"),
        pytest.param(
            _node(providerID="aws:///i-1"),
            _node(providerID="aws:///i-2"),
            [
                'spec.providerID: Forbidden: node updates may not change providerID except from "" '
                "to valid"
            ],
            id="provider-changed",
        ),
    ],
)
def test_node_update_keeps_pod_cidrs_and_provider_id(
    old: Obj, new: Obj, expected: list[str]
) -> None:
    """ValidateNodeUpdate: podCIDRs and providerID may only go from unset to set."""
    assert lines(validate_update(new, old)) == expected


AFFINITY = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"


def _affinity_pod(term: Obj) -> Obj:
    return pod(
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    )


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            _affinity_pod({"matchExpressions": [{"key": "zone", "operator": "Near"}]}),
            [
                f'{AFFINITY}.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator'
            ],
            id="node-selector-operator",
        ),
        pytest.param(
            _affinity_pod(
                {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["1", "2"]}]}
            ),
            [
                f"{AFFINITY}.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"
            ],
            id="gt-two-values",
        ),
        pytest.param(
            _affinity_pod(
                {"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["x"]}]}
            ),
            [
                f'{AFFINITY}.nodeSelectorTerms[0].matchFields[0].key: Invalid value: "metadata.uid": not a valid field selector key'
            ],
            id="field-key",
        ),
        pytest.param(
            _affinity_pod(
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]}
            ),
            [
                f"{AFFINITY}.nodeSelectorTerms[0].matchFields[0].values: Required value: must be only one value when `operator` is 'In' or 'NotIn' for node field selector"
            ],
            id="field-two-values",
        ),
        pytest.param(
            pod(
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}
                    }
                }
            ),
            [
                f"{AFFINITY}.nodeSelectorTerms: Required value: must have at least one node selector term"
            ],
            id="no-terms",
        ),
    ],
)
def test_node_affinity_rules(obj: Obj, expected: list[str]) -> None:
    """Required node affinity is checked as ValidateNodeSelector does."""
    assert check(obj) == expected


def test_daemonset_selector_expression_rules() -> None:
    """Selector expressions: operator, values per operator, and label syntax of values."""
    ds = load_fixture("daemonset-example.yaml")
    ds["spec"]["selector"] = {
        "matchLabels": {"name": "daemonset-example"},
        "matchExpressions": [
            {"key": "a", "operator": "Near"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "NotIn", "values": ["ok", "not ok"]},
        ],
    }
    assert check(ds) == [
        'spec.selector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator',
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        "spec.selector.matchExpressions[2].values[1]: Invalid value: \"not ok\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    ]


def test_daemonset_active_deadline_is_forbidden() -> None:
    """A DaemonSet's pods run forever: activeDeadlineSeconds is refused."""
    ds = load_fixture("daemonset-example.yaml")
    tspec(ds)["activeDeadlineSeconds"] = 60
    assert check(ds) == [
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported"
    ]
