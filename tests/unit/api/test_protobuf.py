"""Protobuf request bodies (kubectl's typed commands) read as the JSON objects they stand for."""

from __future__ import annotations

import pytest

from nodeagent.api import protobuf

# `kubectl create namespace foo` (v1.37), byte for byte as `-v=9` showed it.
CREATE_NAMESPACE_FOO = bytes.fromhex(
    "6b387300"
    "0a0f0a02763112094e616d657370616365"
    "121b0a130a03666f6f12001a0022002a003200380042001200"
    "1a020a00"
    "1a002200"
)


def _len(field: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([field << 3 | 2, len(payload)]) + payload


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _len(1, api_version.encode()) + _len(2, kind.encode())
    return protobuf.MAGIC + _len(1, type_meta) + _len(2, raw)


def test_kubectl_create_namespace_body() -> None:
    """The exact body of `kubectl create namespace foo` is a Namespace named foo; the empty
    fields Go sends (generateName "", generation 0, an empty time) are left out."""
    assert protobuf.decode_object(CREATE_NAMESPACE_FOO) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "foo"},
    }


def test_metadata_maps_lists_and_times() -> None:
    """labels and annotations (map entries), finalizers, ownerReferences, timestamps, ints."""
    label = _len(11, _len(1, b"app") + _len(2, b"web"))
    note = _len(12, _len(1, b"a") + _len(2, b"b"))
    owner = _len(13, _len(1, b"DaemonSet") + _len(3, b"d") + _len(4, b"u-1") + bytes([0x30, 1]))
    meta = (
        _len(2, b"gen-")
        + label
        + note
        + owner
        + _len(14, b"f1")
        + _len(14, b"f2")
        + bytes([0x50, 30])  # deletionGracePeriodSeconds
    )
    body = _envelope("v1", "Namespace", _len(1, meta) + _len(2, _len(1, b"kubernetes")))
    obj = protobuf.decode_object(body)
    assert obj["metadata"] == {
        "generateName": "gen-",
        "labels": {"app": "web"},
        "annotations": {"a": "b"},
        "ownerReferences": [{"kind": "DaemonSet", "name": "d", "uid": "u-1", "controller": True}],
        "finalizers": ["f1", "f2"],
        "deletionGracePeriodSeconds": 30,
    }
    assert obj["spec"] == {"finalizers": ["kubernetes"]}


def test_creation_timestamp_is_rfc3339() -> None:
    """A Time{seconds} becomes the API's RFC 3339 form."""
    seconds = 1_700_000_000
    varint = bytearray()
    while True:
        byte, seconds = seconds & 0x7F, seconds >> 7
        varint.append(byte | (0x80 if seconds else 0))
        if not seconds:
            break
    meta = _len(1, b"n") + _len(8, bytes([0x08]) + bytes(varint))
    obj = protobuf.decode_object(_envelope("v1", "Namespace", _len(1, meta)))
    assert obj["metadata"] == {"name": "n", "creationTimestamp": "2023-11-14T22:13:20Z"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b'{"kind":"Namespace"}', "magic", id="json-not-protobuf"),
        pytest.param(_envelope("v1", "Service", b""), "v1/Service", id="unknown-kind"),
        pytest.param(CREATE_NAMESPACE_FOO[:30], "truncated", id="truncated"),
        pytest.param(protobuf.MAGIC + bytes([0x0B]), "wire type", id="group-wire-type"),
    ],
)
def test_bad_bodies_say_why(body: bytes, message: str) -> None:
    """A body we cannot read is a ProtobufError naming the reason, never a wrong object."""
    with pytest.raises(protobuf.ProtobufError, match=message):
        protobuf.decode_object(body)


def test_self_subject_access_review() -> None:
    """`kubectl auth can-i list pods -n x` arrives as resourceAttributes."""
    attrs = _len(1, b"x") + _len(2, b"list") + _len(5, b"pods")
    spec = _len(1, attrs)
    body = _envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", _len(2, spec))
    assert protobuf.decode_object(body)["spec"] == {
        "resourceAttributes": {"namespace": "x", "verb": "list", "resource": "pods"}
    }


def test_secret_and_configmap_bodies() -> None:
    """`kubectl create secret|configmap` send protobuf: a Secret's data (map<string,bytes>)
    reads as base64, its type and immutable (a pointer: false is kept) as set; a ConfigMap's
    data as text and binaryData as base64."""
    meta = _len(1, _len(1, b"s"))
    secret = (
        meta
        + _len(2, _len(1, b"password") + _len(2, b"\x00\xffpw"))
        + _len(3, b"Opaque")
        + bytes([5 << 3, 0])
    )
    assert protobuf.decode_object(_envelope("v1", "Secret", secret)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"password": "AP9wdw=="},
        "type": "Opaque",
        "immutable": False,
    }
    cm = meta + _len(2, _len(1, b"k") + _len(2, b"v")) + _len(3, _len(1, b"b") + _len(2, b"\x01"))
    assert protobuf.decode_object(_envelope("v1", "ConfigMap", cm)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "s"},
        "data": {"k": "v"},
        "binaryData": {"b": "AQ=="},
    }
