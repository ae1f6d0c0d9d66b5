"""PURE reader of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).

kubectl's typed commands (`kubectl create namespace`, `auth can-i`, eviction, the Pod of
`kubectl debug`) send their body as the `k8s\\x00` envelope around a runtime.Unknown{typeMeta,
raw, contentEncoding, contentType}. This module reads the protobuf wire format and turns the
known kinds into the JSON-shaped dicts the rest of the server works on, using field tables
(rules as data) copied by number from k8s.io/api's generated.proto. It never encodes:
answers are JSON.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nodeagent.api.bodies import Obj

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class ProtobufError(ValueError):
    """A body that is not a protobuf message we can read; the text says why."""


# ---- the wire format ----


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of one message, in order."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == BYTES:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ProtobufError(f"field {number}: truncated")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if pos + width > len(data):
                raise ProtobufError(f"field {number}: truncated")
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise ProtobufError(f"field {number}: unsupported wire type {wire}")
        if number == 0:
            raise ProtobufError("field number 0")
        yield number, wire, value


# ---- field kinds: each turns a wire value into its JSON form ----

Decoder = Callable[[int | bytes], Any]


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a string")
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"invalid UTF-8: {exc}") from exc


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ProtobufError("expected an integer")
    return value - (1 << 64) if value >= 1 << 63 else value


def _bool(value: int | bytes) -> bool:
    return bool(_int(value))


def _time(value: int | bytes) -> str | None:
    seconds = _message(TIME)(value).get("seconds", 0)
    if not seconds:
        return None
    stamp = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _string_map_entry(value: int | bytes) -> tuple[str, str]:
    entry = _message(MAP_ENTRY)(value)
    return str(entry.get("key", "")), str(entry.get("value", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One field of a message: its JSON name, how to decode it, and how it repeats."""

    name: str
    decode: Decoder
    shape: str = "one"  # "one", "list" (repeated), "map" (map<string,string>), "bytesmap"
    pointer: bool = False  # a Go pointer: sent only when set, so its zero value is kept


Schema = dict[int, Field]


def _message(schema: Schema) -> Callable[[int | bytes], Obj]:
    def decode(value: int | bytes) -> Obj:
        if not isinstance(value, bytes):
            raise ProtobufError("expected a message")
        return decode_message(value, schema)

    return decode


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False or value == {}


def decode_message(data: bytes, schema: Schema) -> Obj:
    """One message as a dict; unknown fields are skipped and zero values left out, as Go's
    JSON encoding of the same object (omitempty) would."""
    out: Obj = {}
    for number, _wire, value in fields(data):
        f = schema.get(number)
        if f is None:
            continue
        if f.shape == "map":
            key, item = _string_map_entry(value)
            out.setdefault(f.name, {})[key] = item
        elif f.shape == "bytesmap":  # map<string,bytes>: JSON has the bytes in base64
            entry = decode_message(value if isinstance(value, bytes) else b"", BYTES_ENTRY)
            raw = entry.get("value", b"")
            out.setdefault(f.name, {})[str(entry.get("key", ""))] = base64.b64encode(raw).decode()
        elif f.shape == "list":
            out.setdefault(f.name, []).append(f.decode(value))
        else:
            decoded = f.decode(value)
            if _empty(decoded) and not f.pointer:
                out.pop(f.name, None)
            else:
                out[f.name] = decoded
    return out


# ---- the schemas (k8s.io/apimachinery and k8s.io/api generated.proto field numbers) ----

MAP_ENTRY: Schema = {1: Field(name="key", decode=_text), 2: Field(name="value", decode=_text)}
BYTES_ENTRY: Schema = {
    1: Field(name="key", decode=_text),
    2: Field(name="value", decode=lambda v: v if isinstance(v, bytes) else b""),
}
TIME: Schema = {1: Field(name="seconds", decode=_int), 2: Field(name="nanos", decode=_int)}
TYPE_META: Schema = {1: Field(name="apiVersion", decode=_text), 2: Field(name="kind", decode=_text)}
UNKNOWN: Schema = {
    1: Field(name="typeMeta", decode=_message(TYPE_META)),
    2: Field(name="raw", decode=lambda v: v),
    3: Field(name="contentEncoding", decode=_text),
    4: Field(name="contentType", decode=_text),
}
OWNER_REFERENCE: Schema = {
    1: Field(name="kind", decode=_text),
    3: Field(name="name", decode=_text),
    4: Field(name="uid", decode=_text),
    5: Field(name="apiVersion", decode=_text),
    6: Field(name="controller", decode=_bool),
    7: Field(name="blockOwnerDeletion", decode=_bool),
}
OBJECT_META: Schema = {
    1: Field(name="name", decode=_text),
    2: Field(name="generateName", decode=_text),
    3: Field(name="namespace", decode=_text),
    5: Field(name="uid", decode=_text),
    6: Field(name="resourceVersion", decode=_text),
    7: Field(name="generation", decode=_int),
    8: Field(name="creationTimestamp", decode=_time),
    9: Field(name="deletionTimestamp", decode=_time),
    10: Field(name="deletionGracePeriodSeconds", decode=_int),
    11: Field(name="labels", decode=_text, shape="map"),
    12: Field(name="annotations", decode=_text, shape="map"),
    13: Field(name="ownerReferences", decode=_message(OWNER_REFERENCE), shape="list"),
    14: Field(name="finalizers", decode=_text, shape="list"),
}
NAMESPACE: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(
        name="spec",
        decode=_message({1: Field(name="finalizers", decode=_text, shape="list")}),
    ),
    3: Field(name="status", decode=_message({1: Field(name="phase", decode=_text)})),
}
PRECONDITIONS: Schema = {
    1: Field(name="uid", decode=_text),
    2: Field(name="resourceVersion", decode=_text),
}
DELETE_OPTIONS: Schema = {
    1: Field(name="gracePeriodSeconds", decode=_int),
    2: Field(name="preconditions", decode=_message(PRECONDITIONS)),
    3: Field(name="orphanDependents", decode=_bool),
    4: Field(name="propagationPolicy", decode=_text),
    5: Field(name="dryRun", decode=_text, shape="list"),
}
EVICTION: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="deleteOptions", decode=_message(DELETE_OPTIONS)),
}
RESOURCE_ATTRIBUTES: Schema = {
    1: Field(name="namespace", decode=_text),
    2: Field(name="verb", decode=_text),
    3: Field(name="group", decode=_text),
    4: Field(name="version", decode=_text),
    5: Field(name="resource", decode=_text),
    6: Field(name="subresource", decode=_text),
    7: Field(name="name", decode=_text),
}
SELF_SUBJECT_ACCESS_REVIEW: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(
        name="spec",
        decode=_message(
            {
                1: Field(name="resourceAttributes", decode=_message(RESOURCE_ATTRIBUTES)),
                2: Field(
                    name="nonResourceAttributes",
                    decode=_message(
                        {1: Field(name="path", decode=_text), 2: Field(name="verb", decode=_text)}
                    ),
                ),
            }
        ),
    ),
}

SELF_SUBJECT_REVIEW: Schema = {1: Field(name="metadata", decode=_message(OBJECT_META))}
NON_RESOURCE_ATTRIBUTES: Schema = {
    1: Field(name="path", decode=_text),
    2: Field(name="verb", decode=_text),
}
SUBJECT_ACCESS_REVIEW_SPEC: Schema = {
    1: Field(name="resourceAttributes", decode=_message(RESOURCE_ATTRIBUTES)),
    2: Field(name="nonResourceAttributes", decode=_message(NON_RESOURCE_ATTRIBUTES)),
    3: Field(name="user", decode=_text),
    4: Field(name="groups", decode=_text, shape="list"),
    6: Field(name="uid", decode=_text),
}
SUBJECT_ACCESS_REVIEW: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="spec", decode=_message(SUBJECT_ACCESS_REVIEW_SPEC)),
}
SELF_SUBJECT_RULES_REVIEW: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="spec", decode=_message({1: Field(name="namespace", decode=_text)})),
}

# rbac.authorization.k8s.io/v1 (kubectl create role|clusterrole|rolebinding|clusterrolebinding)
POLICY_RULE: Schema = {
    1: Field(name="verbs", decode=_text, shape="list"),
    2: Field(name="apiGroups", decode=_text, shape="list"),
    3: Field(name="resources", decode=_text, shape="list"),
    4: Field(name="resourceNames", decode=_text, shape="list"),
    5: Field(name="nonResourceURLs", decode=_text, shape="list"),
}
LABEL_SELECTOR: Schema = {
    1: Field(name="matchLabels", decode=_text, shape="map"),
    2: Field(
        name="matchExpressions",
        decode=_message(
            {
                1: Field(name="key", decode=_text),
                2: Field(name="operator", decode=_text),
                3: Field(name="values", decode=_text, shape="list"),
            }
        ),
        shape="list",
    ),
}
ROLE: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="rules", decode=_message(POLICY_RULE), shape="list"),
}
CLUSTER_ROLE: Schema = {
    **ROLE,
    3: Field(
        name="aggregationRule",
        decode=_message(
            {1: Field(name="clusterRoleSelectors", decode=_message(LABEL_SELECTOR), shape="list")}
        ),
        pointer=True,
    ),
}
SUBJECT: Schema = {
    1: Field(name="kind", decode=_text),
    2: Field(name="apiGroup", decode=_text),
    3: Field(name="name", decode=_text),
    4: Field(name="namespace", decode=_text),
}
ROLE_BINDING: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="subjects", decode=_message(SUBJECT), shape="list"),
    3: Field(
        name="roleRef",
        decode=_message(
            {
                1: Field(name="apiGroup", decode=_text),
                2: Field(name="kind", decode=_text),
                3: Field(name="name", decode=_text),
            }
        ),
    ),
}

# A Pod as `kubectl debug` sends it (node debugging; every profile): the fields it sets and
# the usual container fields of a --custom container. Fields not listed here are skipped.
CAPABILITIES: Schema = {
    1: Field(name="add", decode=_text, shape="list"),
    2: Field(name="drop", decode=_text, shape="list"),
}
SECURITY_CONTEXT: Schema = {
    1: Field(name="capabilities", decode=_message(CAPABILITIES)),
    2: Field(name="privileged", decode=_bool, pointer=True),
    4: Field(name="runAsUser", decode=_int, pointer=True),
    5: Field(name="runAsNonRoot", decode=_bool, pointer=True),
    6: Field(name="readOnlyRootFilesystem", decode=_bool, pointer=True),
    7: Field(name="allowPrivilegeEscalation", decode=_bool, pointer=True),
    8: Field(name="runAsGroup", decode=_int, pointer=True),
    11: Field(
        name="seccompProfile",
        decode=_message(
            {1: Field(name="type", decode=_text), 2: Field(name="localhostProfile", decode=_text)}
        ),
    ),
}
CONTAINER: Schema = {
    1: Field(name="name", decode=_text),
    2: Field(name="image", decode=_text),
    3: Field(name="command", decode=_text, shape="list"),
    4: Field(name="args", decode=_text, shape="list"),
    5: Field(name="workingDir", decode=_text),
    6: Field(
        name="ports",
        decode=_message(
            {
                1: Field(name="name", decode=_text),
                2: Field(name="hostPort", decode=_int),
                3: Field(name="containerPort", decode=_int),
                4: Field(name="protocol", decode=_text),
                5: Field(name="hostIP", decode=_text),
            }
        ),
        shape="list",
    ),
    7: Field(
        name="env",
        decode=_message(
            {1: Field(name="name", decode=_text), 2: Field(name="value", decode=_text)}
        ),
        shape="list",
    ),
    9: Field(
        name="volumeMounts",
        decode=_message(
            {
                1: Field(name="name", decode=_text),
                2: Field(name="readOnly", decode=_bool),
                3: Field(name="mountPath", decode=_text),
                4: Field(name="subPath", decode=_text),
                5: Field(name="mountPropagation", decode=_text),
                6: Field(name="subPathExpr", decode=_text),
            }
        ),
        shape="list",
    ),
    13: Field(name="terminationMessagePath", decode=_text),
    14: Field(name="imagePullPolicy", decode=_text),
    15: Field(name="securityContext", decode=_message(SECURITY_CONTEXT)),
    16: Field(name="stdin", decode=_bool),
    17: Field(name="stdinOnce", decode=_bool),
    18: Field(name="tty", decode=_bool),
    20: Field(name="terminationMessagePolicy", decode=_text),
}
# VolumeSource members: field number -> (JSON name, schema). An empty one (emptyDir: {}) stays.
VOLUME_SOURCES: dict[int, tuple[str, Schema]] = {
    1: ("hostPath", {1: Field(name="path", decode=_text), 2: Field(name="type", decode=_text)}),
    2: ("emptyDir", {1: Field(name="medium", decode=_text)}),
}


def _volume(value: int | bytes) -> Obj:
    """A Volume: its name, and its source's member inline (the JSON form has no
    `volumeSource` level)."""
    if not isinstance(value, bytes):
        raise ProtobufError("expected a message")
    volume: Obj = {}
    for number, _wire, item in fields(value):
        if number == 1:
            volume["name"] = _text(item)
        elif number == 2 and isinstance(item, bytes):
            for member, _kind, body in fields(item):
                known = VOLUME_SOURCES.get(member)
                if known is not None and isinstance(body, bytes):
                    volume[known[0]] = decode_message(body, known[1])
    return volume


POD_SPEC: Schema = {
    1: Field(name="volumes", decode=_volume, shape="list"),
    2: Field(name="containers", decode=_message(CONTAINER), shape="list"),
    3: Field(name="restartPolicy", decode=_text),
    4: Field(name="terminationGracePeriodSeconds", decode=_int),
    6: Field(name="dnsPolicy", decode=_text),
    7: Field(name="nodeSelector", decode=_text, shape="map"),
    8: Field(name="serviceAccountName", decode=_text),
    10: Field(name="nodeName", decode=_text),
    11: Field(name="hostNetwork", decode=_bool),
    12: Field(name="hostPID", decode=_bool),
    13: Field(name="hostIPC", decode=_bool),
    16: Field(name="hostname", decode=_text),
    17: Field(name="subdomain", decode=_text),
    19: Field(name="schedulerName", decode=_text),
    20: Field(name="initContainers", decode=_message(CONTAINER), shape="list"),
    22: Field(
        name="tolerations",
        decode=_message(
            {
                1: Field(name="key", decode=_text),
                2: Field(name="operator", decode=_text),
                3: Field(name="value", decode=_text),
                4: Field(name="effect", decode=_text),
                5: Field(name="tolerationSeconds", decode=_int),
            }
        ),
        shape="list",
    ),
    24: Field(name="priorityClassName", decode=_text),
    27: Field(name="shareProcessNamespace", decode=_bool),
}
CONFIG_MAP: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="data", decode=_text, shape="map"),
    3: Field(name="binaryData", decode=_text, shape="bytesmap"),
    4: Field(name="immutable", decode=_bool, pointer=True),
}
SECRET: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="data", decode=_text, shape="bytesmap"),
    3: Field(name="type", decode=_text),
    4: Field(name="stringData", decode=_text, shape="map"),
    5: Field(name="immutable", decode=_bool, pointer=True),
}
OBJECT_REFERENCE: Schema = {
    1: Field(name="kind", decode=_text),
    2: Field(name="namespace", decode=_text),
    3: Field(name="name", decode=_text),
    4: Field(name="uid", decode=_text),
    5: Field(name="apiVersion", decode=_text),
    6: Field(name="resourceVersion", decode=_text),
    7: Field(name="fieldPath", decode=_text),
}
SERVICE_ACCOUNT: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="secrets", decode=_message(OBJECT_REFERENCE), shape="list"),
    3: Field(
        name="imagePullSecrets",
        decode=_message({1: Field(name="name", decode=_text)}),
        shape="list",
    ),
    4: Field(name="automountServiceAccountToken", decode=_bool, pointer=True),
}
# authentication.k8s.io/v1 TokenRequest as `kubectl create token` sends it
TOKEN_REQUEST: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(
        name="spec",
        decode=_message(
            {
                1: Field(name="audiences", decode=_text, shape="list"),
                3: Field(
                    name="boundObjectRef",
                    decode=_message(
                        {
                            1: Field(name="kind", decode=_text),
                            2: Field(name="apiVersion", decode=_text),
                            3: Field(name="name", decode=_text),
                            4: Field(name="uid", decode=_text),
                        }
                    ),
                ),
                4: Field(name="expirationSeconds", decode=_int, pointer=True),
            }
        ),
    ),
}
POD: Schema = {
    1: Field(name="metadata", decode=_message(OBJECT_META)),
    2: Field(name="spec", decode=_message(POD_SPEC)),
}

# The kinds whose protobuf bodies the server reads, by (apiVersion, kind).
KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): NAMESPACE,
    ("v1", "Pod"): POD,
    ("v1", "ConfigMap"): CONFIG_MAP,
    ("v1", "Secret"): SECRET,
    ("v1", "ServiceAccount"): SERVICE_ACCOUNT,
    ("authentication.k8s.io/v1", "TokenRequest"): TOKEN_REQUEST,
    ("v1", "DeleteOptions"): DELETE_OPTIONS,
    ("meta.k8s.io/v1", "DeleteOptions"): DELETE_OPTIONS,
    ("policy/v1", "Eviction"): EVICTION,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): SELF_SUBJECT_ACCESS_REVIEW,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): SELF_SUBJECT_REVIEW,
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): SELF_SUBJECT_RULES_REVIEW,
    ("authorization.k8s.io/v1", "SubjectAccessReview"): SUBJECT_ACCESS_REVIEW,
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): SUBJECT_ACCESS_REVIEW,
    ("rbac.authorization.k8s.io/v1", "Role"): ROLE,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): CLUSTER_ROLE,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ROLE_BINDING,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ROLE_BINDING,
}


def decode_object(body: bytes) -> Obj:
    """A `k8s\\x00` protobuf body as a JSON-shaped object with apiVersion and kind.

    ProtobufError when the envelope is wrong, the content is encoded, or the kind is not one
    this server reads from protobuf (KINDS)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the protobuf magic 'k8s\\x00'")
    envelope = decode_message(body[len(MAGIC) :], UNKNOWN)
    if envelope.get("contentEncoding"):
        raise ProtobufError(f"unsupported content encoding {envelope['contentEncoding']!r}")
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    schema = KINDS.get((api_version, kind))
    if schema is None:
        raise ProtobufError(f"no protobuf decoding for {api_version or '?'}/{kind or '?'}")
    raw = envelope.get("raw", b"")
    return {"apiVersion": api_version, "kind": kind, **decode_message(bytes(raw), schema)}


__all__ = ["MEDIA_TYPE", "ProtobufError", "decode_message", "decode_object", "fields"]
