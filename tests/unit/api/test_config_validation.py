# ruff: noqa: E501  (expected messages are the API server's words, kept whole for grepping)
"""ConfigMaps, Secrets, and the pod fields that reference them are validated with
kube-apiserver's paths and wording, every error at once; secret values are never echoed."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.defaults import default_object
from nodeagent.api.typecheck import type_errors
from nodeagent.api.validation import validate_object, validate_update


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def check(obj: Obj) -> list[str]:
    return [str(e) for e in type_errors(obj) or validate_object(default_object(obj))]


def cm(**fields: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, **fields}


def secret(**fields: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **fields}


KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key_name', regex used for validation is '[-._a-zA-Z0-9]+')"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(cm(data={"a.conf": "x", "B_2-c": "y"}), [], id="cm-ok"),
        pytest.param(
            cm(data={"a b": "x"}), [f'data[a b]: Invalid value: "a b": {KEY_MSG}'], id="cm-bad-key"
        ),
        pytest.param(
            cm(data={"..x": "x"}),
            ["data[..x]: Invalid value: \"..x\": must not start with '..'"],
            id="cm-dotdot",
        ),
        pytest.param(
            cm(data={".": "x"}), ["data[.]: Invalid value: \".\": must not be '.'"], id="cm-dot"
        ),
        pytest.param(
            cm(data={"k": "v"}, binaryData={"k": b64("v")}),
            ['data[k]: Invalid value: "k": duplicate of key present in binaryData'],
            id="cm-collision",
        ),
        pytest.param(cm(data={"k": "x" * (1 << 20)}), [], id="cm-exactly-1MiB"),
        pytest.param(
            cm(data={"k": "x" * (1 << 20)}, binaryData={"b": b64("y")}),
            ["[]: Too long: may not be more than 1048576 bytes"],
            id="cm-over-1MiB",
        ),
        pytest.param(
            cm(binaryData={"b": "not base64!"}),
            [
                'binaryData[b]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3'
            ],
            id="cm-binary-not-base64",
        ),
        pytest.param(secret(data={"k": b64("v")}), [], id="secret-ok"),
        pytest.param(
            secret(data={"token": "hunter2!"}),
            [
                'data[token]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 7'
            ],
            id="secret-not-base64",
        ),
        pytest.param(
            secret(data={"k": b64("x" * (1 << 20) + "y")}),
            ["data: Too long: may not be more than 1048576 bytes"],
            id="secret-over-1MiB",
        ),
        pytest.param(
            secret(type="kubernetes.io/tls", data={"tls.crt": b64("c")}),
            ["data[tls.key]: Required value"],
            id="tls-no-key",
        ),
        pytest.param(
            secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("{x")}),
            [
                'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": Expecting property name enclosed in double quotes'
            ],
            id="dockerconfigjson-not-json",
        ),
        pytest.param(
            secret(type="kubernetes.io/dockerconfigjson"),
            ["data[.dockerconfigjson]: Required value"],
            id="dockerconfigjson-missing",
        ),
        pytest.param(
            secret(type="kubernetes.io/basic-auth"),
            ["data[password]: Required value", "data[username]: Required value"],
            id="basic-auth-neither",
        ),
        pytest.param(
            secret(type="kubernetes.io/basic-auth", stringData={"username": "u"}),
            [],
            id="basic-auth-username-only",
        ),
        pytest.param(
            secret(type="kubernetes.io/ssh-auth", data={"ssh-privatekey": ""}),
            ["data[ssh-privatekey]: Required value"],
            id="ssh-auth-empty",
        ),
        pytest.param(
            secret(type="kubernetes.io/service-account-token"),
            ["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
            id="sa-token-needs-annotation",
        ),
    ],
)
def test_configmap_and_secret_rules(obj: Obj, expected: list[str]) -> None:
    """Each rule of ValidateConfigMap / ValidateSecret, with its path and wording."""
    assert check(obj) == expected


def test_string_data_is_merged_and_dropped() -> None:
    """stringData is encoded into data (its keys win) and is gone from the stored object;
    type defaults to Opaque."""
    out = default_object(secret(data={"a": b64("old"), "b": b64("b")}, stringData={"a": "new"}))
    assert out["data"] == {"a": b64("new"), "b": b64("b")}
    assert "stringData" not in out
    assert out["type"] == "Opaque"


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_immutable(kind: str) -> None:
    """Once immutable, data may not change and immutable may not be unset; labels may."""
    old = default_object(
        {**(cm() if kind == "ConfigMap" else secret()), "immutable": True, "data": {"k": b64("v")}}
    )
    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {"a": "b"}
    assert validate_update(relabelled, old) == []
    changed = {**old, "data": {"k": b64("w")}, "immutable": None}
    assert [str(e) for e in validate_update(changed, old)] == [
        "data: Forbidden: field is immutable when `immutable` is set",
        "immutable: Forbidden: field is immutable when `immutable` is set",
    ]


def test_secret_type_is_immutable() -> None:
    old = default_object(secret(data={"tls.crt": b64("c"), "tls.key": b64("k")}))
    new = {**old, "type": "kubernetes.io/tls"}
    assert [str(e) for e in validate_update(new, old)] == [
        'type: Invalid value: "kubernetes.io/tls": field is immutable'
    ]


def pod(*, volumes: list[Obj] | None = None, **container: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox", **container}],
            "volumes": volumes or [],
        },
    }


V = "spec.volumes[0]"
E = "spec.containers[0].env[0].valueFrom"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            pod(
                volumes=[
                    {
                        "name": "v",
                        "configMap": {
                            "name": "c",
                            "items": [{"key": "a", "path": "x/a.conf", "mode": 0o400}],
                        },
                    }
                ]
            ),
            [],
            id="configmap-ok",
        ),
        pytest.param(
            pod(volumes=[{"name": "v", "configMap": {}}]),
            [f"{V}.configMap.name: Required value"],
            id="configmap-no-name",
        ),
        pytest.param(
            pod(
                volumes=[
                    {
                        "name": "v",
                        "configMap": {
                            "name": "c",
                            "defaultMode": 0o1777,
                            "items": [
                                {"key": "", "path": "/etc/x"},
                                {"key": "k", "path": "a/../../b", "mode": -1},
                                {"key": "k", "path": "..data"},
                            ],
                        },
                    }
                ]
            ),
            [
                f"{V}.configMap.defaultMode: Invalid value: 1023: must be a number between 0 and 0777 (octal), both inclusive",
                f"{V}.configMap.items[0].key: Required value",
                f'{V}.configMap.items[0].path: Invalid value: "/etc/x": must be a relative path',
                f"{V}.configMap.items[1].mode: Invalid value: -1: must be a number between 0 and 0777 (octal), both inclusive",
                f"{V}.configMap.items[1].path: Invalid value: \"a/../../b\": must not contain '..'",
                f"{V}.configMap.items[2].path: Invalid value: \"..data\": must not start with '..'",
            ],
            id="configmap-items",
        ),
        pytest.param(
            pod(volumes=[{"name": "v", "secret": {"items": [{"key": "k"}]}}]),
            [f"{V}.secret.items[0].path: Required value", f"{V}.secret.secretName: Required value"],
            id="secret-volume",
        ),
        pytest.param(
            pod(volumes=[{"name": "v", "configMap": {"name": "c"}, "secret": {"secretName": "s"}}]),
            [f"{V}.configMap: Forbidden: may not specify more than 1 volume type"],
            id="two-sources",
        ),
        pytest.param(
            pod(
                volumes=[
                    {
                        "name": "v",
                        "downwardAPI": {
                            "items": [
                                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                {"path": "node", "fieldRef": {"fieldPath": "spec.nodeName"}},
                                {"path": "cpu", "resourceFieldRef": {"resource": "limits.cpu"}},
                                {"path": "none"},
                            ]
                        },
                    }
                ]
            ),
            [
                f"{V}.downwardAPI: Required value: one of fieldRef and resourceFieldRef is required",
                f'{V}.downwardAPI.fieldRef.fieldPath: Unsupported value: "spec.nodeName": supported values: "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"',
                f"{V}.downwardAPI.resourceFieldRef.containerName: Required value",
            ],
            id="downward-api",
        ),
        pytest.param(
            pod(
                volumes=[
                    {
                        "name": "v",
                        "projected": {
                            "sources": [
                                {
                                    "configMap": {
                                        "name": "c",
                                        "items": [{"key": "a", "path": "same"}],
                                    }
                                },
                                {"secret": {"name": "s", "items": [{"key": "b", "path": "same"}]}},
                                {
                                    "downwardAPI": {
                                        "items": [
                                            {
                                                "path": "n",
                                                "fieldRef": {"fieldPath": "metadata.name"},
                                            }
                                        ]
                                    },
                                    "configMap": {"name": "d"},
                                },
                                {"serviceAccountToken": {"path": "token", "expirationSeconds": 60}},
                            ]
                        },
                    }
                ]
            ),
            [
                f'{V}.projected: Invalid value: "s": conflicting duplicate paths',
                f"{V}.projected.sources[2]: Forbidden: may not specify more than 1 volume type per source",
                f"{V}.projected.sources[3].serviceAccountToken.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
            ],
            id="projected",
        ),
        pytest.param(
            pod(
                env=[
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
                    {
                        "name": "B",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}},
                    },
                    {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {
                        "name": "D",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}},
                    },
                    {
                        "name": "E",
                        "valueFrom": {
                            "resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}
                        },
                    },
                ],
                envFrom=[
                    {"configMapRef": {"name": "c"}, "prefix": "CFG_"},
                    {"secretRef": {"name": "s"}},
                ],
            ),
            [],
            id="env-ok",
        ),
        pytest.param(
            pod(
                env=[
                    {
                        "name": "A",
                        "value": "x",
                        "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}},
                    }
                ]
            ),
            [f'{E}: Invalid value: "": may not be specified when `value` is not empty'],
            id="env-value-and-valueFrom",
        ),
        pytest.param(
            pod(env=[{"name": "A", "valueFrom": {}}]),
            [
                f'{E}: Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'
            ],
            id="env-no-source",
        ),
        pytest.param(
            pod(
                env=[
                    {
                        "name": "A",
                        "valueFrom": {
                            "configMapKeyRef": {"name": "c", "key": "k"},
                            "secretKeyRef": {"name": "s", "key": "k"},
                        },
                    }
                ]
            ),
            [f'{E}: Invalid value: "": may not have more than one field specified at a time'],
            id="env-two-sources",
        ),
        pytest.param(
            pod(env=[{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a b"}}}]),
            [f'{E}.secretKeyRef.key: Invalid value: "a b": {KEY_MSG}'],
            id="env-bad-key",
        ),
        pytest.param(
            pod(
                env=[
                    {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.foo"}}},
                    {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
                ]
            ),
            [
                f'{E}.fieldRef.fieldPath: Invalid value: "spec.foo": error converting fieldPath: field label not supported: spec.foo',
                'spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
            ],
            id="env-field-paths",
        ),
        pytest.param(
            pod(
                env=[
                    {
                        "name": "A",
                        "valueFrom": {
                            "resourceFieldRef": {"resource": "limits.cpu", "divisor": "2"}
                        },
                    },
                    {"name": "B", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}},
                ]
            ),
            [
                f'{E}.resourceFieldRef.divisor: Invalid value: "limits.cpu": only divisor\'s values 1m and 1 are supported with the cpu resource',
                'spec.containers[0].env[1].valueFrom.resourceFieldRef.resource: Unsupported value: "limits.gpu": supported values: "limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory"',
            ],
            id="env-resource-field",
        ),
        pytest.param(
            pod(envFrom=[{}, {"configMapRef": {}, "prefix": "A="}]),
            [
                'spec.containers[0].envFrom: Invalid value: "": must specify one of: `configMapRef` or `secretRef`',
                "spec.containers[0].envFrom[1].configMapRef.name: Required value",
                "spec.containers[0].envFrom[1].prefix: Invalid value: \"A=\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            ],
            id="env-from",
        ),
        pytest.param(
            pod(
                volumes=[{"name": "v", "emptyDir": {}}],
                volumeMounts=[{"name": "v", "mountPath": "/m", "subPath": "../x"}],
            ),
            [
                "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"../x\": must not contain '..'"
            ],
            id="subpath",
        ),
    ],
)
def test_pod_references(obj: Obj, expected: list[str]) -> None:
    """configMap, secret, downwardAPI and projected volumes, env valueFrom and envFrom."""
    assert check(obj) == expected
