"""The files of configMap, secret, downwardAPI and projected volumes, and what a pod references."""

from __future__ import annotations

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.projection import (
    FileProjection,
    Objects,
    ReferenceFailure,
    object_data,
    pod_references,
    volume_files,
)

OBJECTS: Objects = {
    ("ConfigMap", "ns", "cfg"): {"a.conf": b"A", "b.conf": b"B"},
    ("Secret", "ns", "sec"): {"token": b"t0ken"},
}
POD: Obj = {
    "metadata": {
        "name": "p",
        "namespace": "ns",
        "uid": "u-1",
        "labels": {"app": "x", "tier": "b"},
        "annotations": {"note": 'say "hi"'},
    },
    "spec": {
        "containers": [
            {
                "name": "c",
                "resources": {"limits": {"memory": "64Mi"}},
                "env": [
                    {"name": "S", "valueFrom": {"secretKeyRef": {"name": "env-s", "key": "k"}}}
                ],
                "envFrom": [{"configMapRef": {"name": "env-c"}}],
            }
        ],
        "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-s"}}]}],
        "volumes": [
            {"name": "v1", "configMap": {"name": "cfg"}},
            {"name": "v2", "projected": {"sources": [{"secret": {"name": "psec"}}]}},
            {"name": "v3", "emptyDir": {}},
        ],
    },
}


def files(volume: Obj, objects: Objects = OBJECTS) -> dict[str, FileProjection]:
    return volume_files(POD, volume, objects, allocatable={"cpu": "2", "memory": "1Gi"})


def test_pod_references_cover_volumes_projections_env_and_init_containers() -> None:
    """The node may read exactly these objects (the node authorizer's edges)."""
    assert pod_references(POD) == {
        ("ConfigMap", "ns", "cfg"),
        ("Secret", "ns", "psec"),
        ("Secret", "ns", "env-s"),
        ("ConfigMap", "ns", "env-c"),
        ("Secret", "ns", "init-s"),
    }


def test_config_map_volume_all_keys_with_default_mode() -> None:
    """Without items every key is a file, mode defaultMode (0644 unless set)."""
    assert files({"name": "v", "configMap": {"name": "cfg"}}) == {
        "a.conf": FileProjection(data=b"A", mode=0o644),
        "b.conf": FileProjection(data=b"B", mode=0o644),
    }
    got = files({"name": "v", "secret": {"secretName": "sec", "defaultMode": 0o400}})
    assert got == {"token": FileProjection(data=b"t0ken", mode=0o400)}


def test_items_choose_keys_paths_and_modes() -> None:
    """items: only the keys named, at their paths, with their own mode."""
    volume = {
        "name": "v",
        "configMap": {
            "name": "cfg",
            "items": [
                {"key": "a.conf", "path": "sub/dir/a"},
                {"key": "b.conf", "path": "b", "mode": 0o600},
            ],
        },
    }
    assert files(volume) == {
        "sub/dir/a": FileProjection(data=b"A", mode=0o644),
        "b": FileProjection(data=b"B", mode=0o600),
    }


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ({"configMap": {"name": "nope"}}, 'configmap "nope" not found'),
        ({"secret": {"secretName": "nope"}}, 'secret "nope" not found'),
        ({"configMap": {"name": "cfg", "items": [{"key": "zz", "path": "z"}]}},
         "configmap references non-existent config key: zz"),
        ({"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "../x"}]}},
         "volume \"v\": invalid path '../x'"),
        ({"projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
         "failed to fetch token: none fetched for ns/default for pod p"),
    ],
    ids=["configmap", "secret", "key", "path", "token"],
)  # fmt: skip
def test_failures_name_the_object(volume: Obj, message: str) -> None:
    """A missing non-optional object or key, an escaping path, a token not fetched: refused."""
    with pytest.raises(ReferenceFailure) as info:
        files({"name": "v", **volume})
    assert str(info.value) == message


def test_optional_missing_object_or_key_is_empty() -> None:
    """optional: an absent object gives an empty volume, an absent item key is left out."""
    assert files({"name": "v", "secret": {"secretName": "nope", "optional": True}}) == {}
    volume = {"configMap": {"name": "cfg", "optional": True, "items": [{"key": "zz", "path": "z"}]}}
    assert files({"name": "v", **volume}) == {}


MEM_REF = {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}
CPU_REF = {"containerName": "c", "resource": "limits.cpu"}


def test_downward_api_volume() -> None:
    """metadata fields, labels and annotations as sorted k="v" lines, a resource value."""
    volume = {
        "name": "v",
        "downwardAPI": {
            "items": [
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}},
                {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}},
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
                {"path": "app", "fieldRef": {"fieldPath": "metadata.labels['app']"}},
                {"path": "mem", "mode": 0o400, "resourceFieldRef": MEM_REF},
                {"path": "cpu", "resourceFieldRef": CPU_REF},
            ]
        },
    }  # fmt: skip
    got = {k: v.data.decode() for k, v in files(volume).items()}
    assert got == {
        "name": "p",
        "ns": "ns",
        "uid": "u-1",
        "labels": 'app="x"\ntier="b"',
        "annotations": 'note="say \\"hi\\""',
        "app": "x",
        "mem": "64",
        "cpu": "2",
    }
    assert files(volume)["mem"].mode == 0o400


def test_projected_volume_joins_its_sources() -> None:
    """projected: configMap, secret and downwardAPI sources in one directory, one defaultMode."""
    volume = {
        "name": "v",
        "projected": {
            "defaultMode": 0o440,
            "sources": [
                {"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "a"}]}},
                {"secret": {"name": "sec"}},
                {
                    "downwardAPI": {
                        "items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]
                    }
                },
            ],
        },
    }
    assert files(volume) == {
        "a": FileProjection(data=b"A", mode=0o440),
        "token": FileProjection(data=b"t0ken", mode=0o440),
        "n": FileProjection(data=b"p", mode=0o440),
    }


def test_object_data_decodes_as_the_api_stores_it() -> None:
    """ConfigMap data and binaryData; Secret data (base64) with stringData over it."""
    cm = {
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "x"},
        "binaryData": {"b": "AAE="},
    }
    assert object_data(cm) == {"a": b"x", "b": b"\x00\x01"}
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA==", "b": "eQ=="},
              "stringData": {"b": "z"}}  # fmt: skip
    assert object_data(secret) == {"a": b"x", "b": b"z"}
    with pytest.raises(ReferenceFailure, match=r"data\.a: illegal base64"):
        object_data({"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "!!"}})
