"""Who is calling (bearer tokens) and may they: the authorizer chain of kube-apiserver's
`--authorization-mode=Node,RBAC` with system:masters first.

The admin token may do everything. A node token (issued at enrolment, server/credentials.py)
speaks for one node, `system:node:<name>`, limited as Kubernetes' Node authorizer limits
kubelets (NODE_RULES): its own Node and Lease, pods bound to it (get; list/watch only with the
fieldSelector spec.nodeName=<itself>; status updates), pod create and delete (NodeRestriction,
noderestriction.py, then checks the objects), events, services, and the ConfigMaps and
Secrets its pods reference (get, or list/watch by metadata.name: nodegraph.py), the
ServiceAccounts its pods run as (get, and create serviceaccounts/token: NodeRestriction then
requires the token be bound to one of its pods). ServiceAccount tokens (JWTs the server
signs, server/satokens.py) authenticate as `system:serviceaccount:NS:NAME`. What the node
authorizer does not allow, and every other caller, is decided by RBAC (rbac.py) over the
Policy the caller passes in (server/rbacindex.py keeps it current). Decisions are pure:
`authorize(user, attrs, policy)` returns None or the Forbidden to raise.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import Forbidden, Unauthorized
from nodeagent.api.resources import BY_NAME
from nodeagent.api.tokens import NODE_GROUPS, NODE_USER_PREFIX
from nodeagent.server.noderestriction import LEASE_NAMESPACE
from nodeagent.server.rbac import EMPTY, Policy, Request, Subject

ADMIN_USER = "admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """An authenticated caller, as kube-apiserver's user.Info: name, uid, groups (what RBAC
    binds to), extra (a ServiceAccount token's pod, node and credential id)."""

    name: str
    groups: tuple[str, ...] = ()
    node: str | None = None  # set for node identities
    uid: str = ""  # a ServiceAccount's uid for its tokens
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


ADMIN = User(name=ADMIN_USER, groups=("system:masters", "system:authenticated"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Attributes:
    """One request as the authorizer sees it."""

    verb: str  # get list watch create update patch delete deletecollection (or impersonate...)
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    node_selector: str | None = None  # the spec.nodeName a list/watch's fieldSelector pins
    obj: Obj | None = None  # the stored object (or the posted one, for create)
    # a ConfigMap or Secret read by a node: a pod bound to that node references the object
    # (nodegraph.related, which the REST shell asks before authorizing)
    referenced: bool = False
    api_group: str | None = None  # None: the group of the served resource of that name
    path: str = ""  # a non-resource request (/metrics, /api ...): verb is the HTTP method's

    @property
    def group(self) -> str:
        if self.api_group is not None:
            return self.api_group
        r = BY_NAME.get(self.resource)
        return r.group if r is not None else ""

    def rbac_request(self) -> Request:
        return Request(
            verb=self.verb,
            api_group=self.group,
            resource=self.resource,
            subresource=self.subresource,
            namespace=self.namespace,
            name=self.name,
            path=self.path,
        )


class NodeTokenVerifier(Protocol):
    """Who checks node credentials (server/credentials.py reads the store's records)."""

    async def node_of(self, token: str) -> str | None: ...


class ServiceAccountTokenVerifier(Protocol):
    """Who checks ServiceAccount tokens (server/satokens.py: signature, times, audience, and
    that the ServiceAccount and bound object still exist, read on every request)."""

    async def user_of(self, token: str) -> User | None: ...


def looks_like_jwt(token: str) -> bool:
    """A compact JWS (header.payload.signature), which no other credential here is."""
    return token.count(".") == 2 and token.startswith("eyJ")


# The join secret authenticates as this user on the enrolment path only (kubelet's bootstrap
# tokens are system:bootstrap:<id> in system:bootstrappers); anywhere else it is no credential.
BOOTSTRAP = User(
    name="system:bootstrap:join-secret", groups=("system:bootstrappers", "system:authenticated")
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticator:
    admin_token: str = field(repr=False)
    join_secret: str = field(repr=False)  # the server's DIR/node-token: it only enrols hosts
    nodes: NodeTokenVerifier | None = field(default=None, repr=False)
    service_accounts: ServiceAccountTokenVerifier | None = field(default=None, repr=False)

    async def authenticate(self, authorization: str | None, *, enrolment: bool = False) -> User:
        """The caller of an `Authorization` header value; Unauthorized when there is none.

        Node tokens are checked against their record on every request (no cache of verified
        tokens), so a revoked node's next request fails; ServiceAccount tokens against their
        ServiceAccount and bound object, likewise. `enrolment`: the request is an
        enrolment, where the join secret is a credential (BOOTSTRAP).
        """
        # the scheme's case does not matter (kube-apiserver's bearertoken authenticator): the
        # Python client's in-cluster config sends "bearer <token>"
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Unauthorized")
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return ADMIN
        if enrolment and hmac.compare_digest(token.encode(), self.join_secret.encode()):
            return BOOTSTRAP
        if looks_like_jwt(token):
            user = None
            if self.service_accounts is not None:
                user = await self.service_accounts.user_of(token)
            if user is None:
                raise Unauthorized("Unauthorized")
            return user
        node = await self.nodes.node_of(token) if self.nodes is not None else None
        if node is None:
            raise Unauthorized("Unauthorized")
        return User(name=f"{NODE_USER_PREFIX}{node}", groups=NODE_GROUPS, node=node)


def _bound_to(obj: Obj | None, node: str) -> bool:
    return obj is not None and (obj.get("spec") or {}).get("nodeName") == node


# A node rule answers None (allowed) or why not: kube-apiserver appends a non-empty reason to
# its Forbidden message. What a write carries (labels, taints, mirror pods, other nodes'
# objects) is NodeRestriction's (noderestriction.py), judged after the object is read.
Reason = str | None


def _related_pod(node: str, a: Attributes) -> Reason:
    """The node authorizer's graph: a pod is related to the node it is bound to. A pod that
    does not exist is related to no node, so asking for one is 403 as well, not 404."""
    if not a.name:
        return "No Object name found"
    if _bound_to(a.obj, node):
        return None
    return f"no relationship found between node '{node}' and this object"


def _pods(node: str, a: Attributes) -> Reason:
    if a.subresource == "status":
        return None if a.verb in ("update", "patch") else ""
    if a.subresource:
        return ""  # log, exec, attach: never a node's
    if a.verb == "get":
        return _related_pod(node, a)
    if a.verb in ("list", "watch"):
        if a.node_selector == node:
            return None
        if a.name:  # a fieldSelector metadata.name=<pod> names one pod
            return _related_pod(node, a)
        return "can only list/watch pods with spec.nodeName field selector"
    if a.verb in ("create", "delete"):
        return None  # mirror pods and pods bound to it: NodeRestriction checks the object
    return ""


def _nodes(node: str, a: Attributes) -> Reason:
    if a.subresource == "status":
        return None if a.verb in ("update", "patch") else ""
    if a.subresource:
        return ""
    if a.verb in ("create", "update", "patch"):
        return None  # its own Node only: NodeRestriction checks the name and the object
    if a.verb in ("get", "list", "watch"):
        # by name, not by the graph, so a node can look for its Node before registering it
        if a.name == node:
            return None
        if not a.name:
            return f"node '{node}' cannot read all nodes, only its own Node object"
        return f"node '{node}' cannot read '{a.name}', only its own Node object"
    return ""


def _leases(node: str, a: Attributes) -> Reason:
    if a.verb not in ("get", "create", "update", "patch", "delete"):
        return "can only get, create, update, patch, or delete a node lease"
    if a.namespace != LEASE_NAMESPACE:
        return f'can only access leases in the "{LEASE_NAMESPACE}" system namespace'
    # a create names its lease in the body: NodeRestriction checks it
    if a.verb != "create" and a.name != node:
        return "can only access node lease with the same name as the requesting node"
    return None


def _referenced_object(node: str, a: Attributes) -> Reason:
    """authorizeReadNamespacedObject: get, list and watch of one named object in a
    namespace, and only when the graph relates it to the node (a pod bound to the node
    references it). A list or watch names its object by fieldSelector metadata.name, as
    kubelet's reflector per object does; a list of all of them names none."""
    if a.verb not in ("get", "list", "watch"):
        return "can only read resources of this type"
    if a.subresource:
        return "cannot read subresource"
    if not a.namespace:
        return "can only read namespaced object of this type"
    if not a.name:
        return "No Object name found"
    if a.referenced:
        return None
    return f"no relationship found between node '{node}' and this object"


def _service_accounts(node: str, a: Attributes) -> Reason:
    """authorizeServiceAccount: get one ServiceAccount, or create the token of one, that a
    pod bound to the node runs as (the graph: `referenced`); NodeRestriction then checks the
    token request's binding (noderestriction.py)."""
    if a.verb == "get" and not a.subresource:
        if not a.name:
            return "No Object name found"
        return None if a.referenced else _no_relationship(node)
    if a.verb != "create" or not a.name:
        return "can only create tokens for individual service accounts"
    if a.subresource != "token":
        return "can only create token subresource of serviceaccount"
    return None if a.referenced else _no_relationship(node)


def _no_relationship(node: str) -> str:
    return f"no relationship found between node '{node}' and this object"


def _verbs(*verbs: str) -> Callable[[str, Attributes], Reason]:
    """A static rule (bootstrappolicy.NodeRules): these verbs on the resource itself."""
    return lambda _node, a: None if a.verb in verbs and not a.subresource else ""


# resource -> may this node do this? (rules as data: one row per resource a node may touch;
# the node authorizer with AuthorizeNodeWithSelectors, GA since Kubernetes 1.34)
NODE_RULES: Mapping[str, Callable[[str, Attributes], Reason]] = {
    "pods": _pods,
    "nodes": _nodes,
    "leases": _leases,
    "configmaps": _referenced_object,
    "secrets": _referenced_object,
    "serviceaccounts": _service_accounts,
    "events": _verbs("create", "update", "patch"),
    "services": _verbs("get", "list", "watch"),
}


def subject_of(user: User) -> Subject:
    return Subject(name=user.name, groups=user.groups)


def decide(user: User, a: Attributes, policy: Policy = EMPTY) -> Reason:
    """None when `user` may do `a`, else the authorizer's reason ("" when it gives none), as
    a SubjectAccessReview's status.reason carries it. The chain: system:masters may do
    anything; a node is asked of the node authorizer, then of RBAC (its reason is kept when
    RBAC says no too); everyone else of RBAC alone."""
    if user.is_admin:
        return None
    reason: Reason = ""
    rule = NODE_RULES.get(a.resource) if user.node is not None and not a.path else None
    if rule is not None and user.node is not None:
        reason = rule(user.node, a)
        if reason is None:
            return None
    if policy.allows(subject_of(user), a.rbac_request()):
        return None
    return reason


def authorize(user: User, a: Attributes, policy: Policy = EMPTY) -> Forbidden | None:
    """None when `user` may do `a`, else the Forbidden error Kubernetes would answer."""
    reason = decide(user, a, policy)
    return None if reason is None else forbidden(user, a, reason)


def forbidden(user: User, a: Attributes, reason: str = "") -> Forbidden:
    """kube-apiserver's authorization Forbidden; a non-empty reason follows a colon."""
    if a.path:
        return Forbidden(f'forbidden: User "{user.name}" cannot {a.verb} path "{a.path}"')
    group = a.group
    what = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    qualified = f"{a.resource}.{group}" if group else a.resource
    subject = f'{qualified} "{a.name}"' if a.name else qualified
    scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return Forbidden(
        f'{subject} is forbidden: User "{user.name}" cannot {a.verb} resource "{what}" in API '
        f'group "{group}" {scope}' + (f": {reason}" if reason else ""),
        name=a.name,
        group=group,
        kind=a.resource,
    )
