"""Who is calling (bearer tokens) and may they (the admin, and Kubernetes' node authorizer).

The admin token may do everything. A node token (nodeagent.api.tokens) speaks for one node,
`system:node:<name>`, limited as Kubernetes' Node authorizer + NodeRestriction limit kubelets:
its own Node and Lease, pods bound to it (read, status, delete; list/watch only with the
fieldSelector spec.nodeName=<itself>), mirror pods bound to it, events, reading nodes.
Decisions are pure: `authorize(user, attrs)` returns None or the Forbidden to raise.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nodeagent.api.errors import Forbidden, Unauthorized
from nodeagent.api.resources import BY_NAME
from nodeagent.api.tokens import node_of_token

Obj = dict[str, Any]

ADMIN_USER = "admin"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
LEASE_NAMESPACE = "kube-node-lease"


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    node: str | None = None  # set for node identities

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


ADMIN = User(name=ADMIN_USER, groups=("system:masters", "system:authenticated"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Attributes:
    """One request as the authorizer sees it."""

    verb: str  # get list watch create update patch delete deletecollection
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    node_selector: str | None = None  # the spec.nodeName a list/watch's fieldSelector pins
    obj: Obj | None = None  # the stored object (or the posted one, for create)


# node tokens remembered as verified at most (a fleet's worth; past it the memory starts over)
KNOWN_TOKENS_MAX = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticator:
    admin_token: str
    join_secret: str
    # valid node tokens already verified -> their user (an HMAC per request is the cost this
    # saves; kube-apiserver caches token authentication too). Only valid tokens are kept.
    _known: dict[str, User] = field(default_factory=dict, compare=False, repr=False)

    def authenticate(self, authorization: str | None) -> User:
        """The caller of an `Authorization` header value; Unauthorized when there is none."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("Unauthorized")
        token = authorization[len("Bearer ") :].strip()
        known = self._known.get(token)
        if known is not None:
            return known
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return ADMIN
        node = node_of_token(self.join_secret, token)
        if node is None:
            raise Unauthorized("Unauthorized")
        user = User(
            name=f"system:node:{node}", groups=("system:nodes", "system:authenticated"), node=node
        )
        if len(self._known) >= KNOWN_TOKENS_MAX:
            self._known.clear()
        self._known[token] = user
        return user


def _bound_to(obj: Obj | None, node: str) -> bool:
    return obj is not None and (obj.get("spec") or {}).get("nodeName") == node


def _is_mirror_of(obj: Obj | None, node: str) -> bool:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    return _bound_to(obj, node) and MIRROR_ANNOTATION in annotations


def _pods(node: str, a: Attributes) -> bool:
    if a.verb in ("list", "watch"):
        return a.node_selector == node
    if a.subresource == "status":
        return a.verb in ("get", "update", "patch") and _bound_to(a.obj, node)
    if a.subresource:
        return False
    if a.verb == "create":
        return _is_mirror_of(a.obj, node)
    if a.verb in ("get", "delete"):
        return _bound_to(a.obj, node)
    return False


# resource -> may this node do this? (rules as data: one row per resource a node may touch)
NODE_RULES: Mapping[str, Callable[[str, Attributes], bool]] = {
    "pods": _pods,
    "nodes": lambda node, a: (
        a.verb in ("get", "list", "watch")
        or (a.verb in ("create", "update", "patch") and a.name == node)
        or (a.verb == "create" and ((a.obj or {}).get("metadata") or {}).get("name") == node)
    ),
    "leases": lambda node, a: (
        a.namespace == LEASE_NAMESPACE
        and a.verb in ("get", "create", "update", "patch", "delete")
        and (a.name or ((a.obj or {}).get("metadata") or {}).get("name")) == node
    ),
    "events": lambda _node, a: a.verb in ("create", "update", "patch"),
    "namespaces": lambda _node, a: a.verb == "get",
}


def authorize(user: User, a: Attributes) -> Forbidden | None:
    """None when `user` may do `a`, else the Forbidden error Kubernetes would answer."""
    if user.is_admin:
        return None
    if user.node is not None:
        rule = NODE_RULES.get(a.resource)
        if rule is not None and rule(user.node, a):
            return None
    return forbidden(user, a)


def forbidden(user: User, a: Attributes) -> Forbidden:
    r = BY_NAME.get(a.resource)
    group = r.group if r else ""
    what = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    subject = (
        f'{r.qualified_name if r else a.resource} "{a.name}"'
        if a.name
        else (r.qualified_name if r else a.resource)
    )
    scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return Forbidden(
        f'{subject} is forbidden: User "{user.name}" cannot {a.verb} resource "{what}" in API '
        f'group "{group}" {scope}',
        name=a.name,
        group=group,
        kind=a.resource,
    )
