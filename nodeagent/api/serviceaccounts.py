"""PURE: ServiceAccounts and TokenRequests as kube-apiserver validates and names them.

- `validate_service_account`: ObjectMeta with a DNS-subdomain name (ValidateServiceAccount);
- `token_request_spec`: a TokenRequest's spec with its defaults (audiences from the server,
  expirationSeconds 3600) and every FieldError of ValidateTokenRequest;
- the names of a ServiceAccount's user and groups (k8s.io/apiserver serviceaccount util).
No I/O, no clock: the REST shell (server/rest/tokenrequest.py) reads and signs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import FieldError
from nodeagent.api.fielderrors import Errors, sorted_errors
from nodeagent.api.metavalidation import object_meta_into

USER_PREFIX = "system:serviceaccount:"
ALL_GROUP = "system:serviceaccounts"
DEFAULT_NAME = "default"  # the ServiceAccount every namespace has (and pods default to)

MIN_EXPIRATION_SECONDS = 600  # ValidateTokenRequest: "less than 10 minutes"
MAX_EXPIRATION_SECONDS = 1 << 32
DEFAULT_EXPIRATION_SECONDS = 3600  # SetDefaults_TokenRequestSpec
# the kinds a token may be bound to (TokenREST.Create; Node binding is not served here)
BINDABLE_KINDS = ("Pod", "Secret")

TOKEN_REQUEST_API_VERSION = "authentication.k8s.io/v1"


def username(namespace: str, name: str) -> str:
    """`system:serviceaccount:NS:NAME` (serviceaccount.MakeUsername)."""
    return f"{USER_PREFIX}{namespace}:{name}"


def groups(namespace: str) -> tuple[str, ...]:
    """The groups of every ServiceAccount of `namespace` (MakeGroupNames)."""
    return (ALL_GROUP, f"{ALL_GROUP}:{namespace}")


def split_username(user: str) -> tuple[str, str] | None:
    """(namespace, name) of a ServiceAccount username, or None for any other user."""
    if not user.startswith(USER_PREFIX):
        return None
    namespace, sep, name = user[len(USER_PREFIX) :].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


def validate_service_account(account: Obj) -> list[FieldError]:
    """ValidateServiceAccount: its metadata (name a DNS subdomain); the secrets and
    imagePullSecrets references are typed by the type gate and not checked further."""
    errs = Errors()
    object_meta_into(account, errs, namespaced=True)
    return sorted_errors(errs.items)


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundObject:
    """spec.boundObjectRef: the object whose deletion ends the token."""

    kind: str
    api_version: str
    name: str
    uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSpec:
    """A defaulted TokenRequest spec."""

    audiences: tuple[str, ...]
    expiration_seconds: int
    bound: BoundObject | None

    def as_json(self) -> Obj:
        spec: Obj = {
            "audiences": list(self.audiences),
            "expirationSeconds": self.expiration_seconds,
        }
        if self.bound is not None:
            spec["boundObjectRef"] = {
                "kind": self.bound.kind,
                "apiVersion": self.bound.api_version,
                "name": self.bound.name,
                "uid": self.bound.uid,
            }
        return spec


def _as_map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def token_request_spec(
    request: Obj, *, api_audiences: Sequence[str]
) -> tuple[TokenSpec, list[FieldError]]:
    """The request's spec, defaulted (no audiences: the API's; no expiration: an hour), and
    ValidateTokenRequest's errors. The type gate has already typed every field."""
    errs = Errors()
    spec = _as_map(request.get("spec"))
    audiences = tuple(str(a) for a in spec.get("audiences") or ()) or tuple(api_audiences)
    raw = spec.get("expirationSeconds")
    expiration = DEFAULT_EXPIRATION_SECONDS if raw is None else int(raw)
    if expiration < MIN_EXPIRATION_SECONDS:
        errs.invalid(
            "spec.expirationSeconds", expiration, "may not specify a duration less than 10 minutes"
        )
    if expiration > MAX_EXPIRATION_SECONDS:
        errs.invalid(
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration larger than 2^32 seconds",
        )
    ref = spec.get("boundObjectRef")
    bound = None
    if isinstance(ref, dict):
        bound = BoundObject(
            kind=str(ref.get("kind") or ""),
            api_version=str(ref.get("apiVersion") or ""),
            name=str(ref.get("name") or ""),
            uid=str(ref.get("uid") or ""),
        )
    token = TokenSpec(audiences=audiences, expiration_seconds=expiration, bound=bound)
    return token, sorted_errors(errs.items)


def bind_refusal(bound: BoundObject) -> str | None:
    """Why a token cannot be bound to this reference (TokenREST's BadRequest), or None."""
    group, _, version = bound.api_version.rpartition("/")
    if group or bound.kind not in BINDABLE_KINDS:
        return f"cannot bind token to object of type {group}/{version}, Kind={bound.kind}"
    return None


__all__ = [
    "ALL_GROUP",
    "DEFAULT_NAME",
    "BoundObject",
    "TokenSpec",
    "bind_refusal",
    "groups",
    "split_username",
    "token_request_spec",
    "username",
    "validate_service_account",
]
