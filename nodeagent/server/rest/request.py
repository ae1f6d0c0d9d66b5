"""What one REST request asks for, decoded: the target, the verb, bodies, query options.

Routes are generated from nodeagent.api.resources; each carries a `Target` (resource,
scope, subresource). This module turns an aiohttp request into plain values and Status
errors (400 for bad bodies, 415 for media types we do not speak); it decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from nodeagent.api import limits, protobuf
from nodeagent.api.bodies import Obj
from nodeagent.api.decode import DecodeError, load_json, load_yaml
from nodeagent.api.errors import BadRequest, FieldError, UnsupportedMediaType
from nodeagent.api.resources import Resource

MAX_BODY_BYTES = limits.MAX_BODY_BYTES

PATCH_TYPES = (
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
# Protobuf bodies are read for a few kinds only (nodeagent.api.protobuf.KINDS): an unknown
# kind stays 415, as for any format we do not speak.
# Bodies sent without a useful media type (the Python client sends none) are JSON.
JSON_TYPES = ("application/json", "", "*/*", "application/octet-stream", "text/plain")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What a route serves: a resource, whether it names one object, and a subresource."""

    resource: Resource
    item: bool
    all_namespaces: bool = False
    subresource: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    target: Target
    verb: str
    namespace: str
    name: str


_VERBS: dict[tuple[str, bool], str] = {
    ("GET", True): "get",
    ("GET", False): "list",
    ("POST", False): "create",
    ("PUT", True): "update",
    ("PATCH", True): "patch",
    ("DELETE", True): "delete",
    ("DELETE", False): "deletecollection",
}


def verb_of(request: web.Request, target: Target) -> str | None:
    """The Kubernetes verb of a request, or None when the method is not allowed here."""
    verb = _VERBS.get((request.method, target.item))
    if verb in ("list", "get") and not target.subresource and flag(request, "watch"):
        return "watch"
    if target.all_namespaces and verb not in ("list", "watch"):
        return None
    if target.subresource and verb not in ("get", "update", "patch"):
        return None
    if not target.subresource and verb not in target.resource.verbs:
        return None  # a read-only resource (services)
    return verb


_TRUE = frozenset({"1", "t", "T", "true", "True", "TRUE"})  # Go's strconv.ParseBool
_FALSE = frozenset({"", "0", "f", "F", "false", "False", "FALSE"})


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter; BadRequest for a value that is not one (as kube-apiserver's
    parameter decoding answers)."""
    raw = request.query.get(name, "")
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise BadRequest(f"invalid value for {name}: {raw!r}: must be a boolean")


def int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not -(2**63) <= value < 2**63:  # an int64, as kube-apiserver parses it
        raise BadRequest(f"invalid value for {name}: {raw!r}: must be an integer") from None
    return value


def resource_version(request: web.Request) -> str:
    """The resourceVersion parameter of a read: "" or a version number (BadRequest otherwise;
    kube-apiserver answers 500 there today, kubernetes/kubernetes#139485)."""
    raw = request.query.get("resourceVersion", "")
    if raw and not (raw.isascii() and raw.isdigit() and int(raw) < 2**63):
        error = FieldError(
            field="resourceVersion",
            type="Invalid value",
            value=raw,
            detail="must be a non-negative integer",
        )
        raise BadRequest(str(error), causes=[error])
    return raw


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()


async def read_body(request: web.Request) -> bytes:
    return await request.read()


def decode_object(body: bytes, content_type: str) -> Obj:
    """A request body (JSON, YAML, or protobuf for the kinds nodeagent.api.protobuf reads) as
    an object; BadRequest names what is wrong."""
    if content_type == protobuf.MEDIA_TYPE:
        try:
            value = protobuf.decode_object(body)
        except protobuf.ProtobufError as exc:
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json, application/yaml ({exc})"
            ) from exc
    elif content_type in YAML_TYPES:
        try:
            value = load_yaml(body.decode(), source="body")
        except (DecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"error decoding YAML: {exc}") from exc
    elif content_type in JSON_TYPES or content_type.endswith("+json"):
        try:
            value = load_json(body or b"null", source="body")
        except DecodeError as exc:
            raise BadRequest(f"error decoding JSON: {exc}") from exc
    else:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types "
            f'include: application/json, application/yaml (got "{content_type}")'
        )
    if not isinstance(value, dict):
        raise BadRequest("the body of the request must be a JSON object")
    return value


def include_object(request: web.Request) -> str:
    """The includeObject parameter of a Table request: Metadata (default), Object or None."""
    value = request.query.get("includeObject") or "Metadata"
    if value not in ("Metadata", "Object", "None"):
        raise BadRequest(
            f'includeObject: Unsupported value: "{value}": supported values: '
            '"Metadata", "None", "Object"'
        )
    return value


def wants_table(request: web.Request) -> bool:
    return "as=table" in request.headers.get("Accept", "").lower().replace(" ", "")
