"""Escalation prevention on RBAC writes, as kube-apiserver's RBAC registry strategies: a
Role or ClusterRole may be written only with rules its writer already holds where the role
applies (or with the `escalate` verb on it), and a binding only to a role whose rules the
writer holds there (or with the `bind` verb on that role). system:masters is exempt. Rules
are judged by rbacescalation.py against the policy of the RBAC index.
"""

from __future__ import annotations

from aiohttp import web

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import Forbidden, NotFound
from nodeagent.server.auth import Attributes, User, decide, subject_of
from nodeagent.server.rbac import ALL, Policy, Rule
from nodeagent.server.rbacescalation import escalation_message, uncovered
from nodeagent.server.registry_protocol import Admit
from nodeagent.server.rest import keys
from nodeagent.server.rest.request import Call

ROLES = frozenset({"roles", "clusterroles"})
BINDINGS = frozenset({"rolebindings", "clusterrolebindings"})
GROUP = "rbac.authorization.k8s.io"
EVERYTHING = [
    Rule(verbs=(ALL,), api_groups=(ALL,), resources=(ALL,)),
    Rule(verbs=(ALL,), non_resource_urls=(ALL,)),
]


def _refuse(resource: str, name: str, why: str) -> Forbidden:
    return Forbidden(
        f'{resource}.{GROUP} "{name}" is forbidden: {why}', name=name, group=GROUP, kind=resource
    )


def _check_rules(user: User, policy: Policy, *, resource: str, namespace: str, obj: Obj) -> None:
    name = meta.name_of(obj)
    may_escalate = (
        decide(
            user,
            Attributes(verb="escalate", resource=resource, namespace=namespace, name=name),
            policy,
        )
        is None
    )
    if may_escalate:
        return
    held = policy.rules_for(subject_of(user), namespace)
    if obj.get("aggregationRule") is not None and uncovered(held, EVERYTHING):
        raise _refuse(
            resource, name, "must have cluster-admin privileges to use the aggregationRule"
        )
    wanted = [Rule.of(r) for r in obj.get("rules") or [] if isinstance(r, dict)]
    missing = uncovered(held, wanted)
    if missing:
        raise _refuse(resource, name, escalation_message(user.name, user.groups, missing))


def _check_binding(user: User, policy: Policy, *, resource: str, namespace: str, obj: Obj) -> None:
    ref = obj.get("roleRef") or {}
    kind, role = str(ref.get("kind") or ""), str(ref.get("name") or "")
    role_resource = "clusterroles" if kind == "ClusterRole" else "roles"
    may_bind = (
        decide(
            user,
            Attributes(verb="bind", resource=role_resource, namespace=namespace, name=role),
            policy,
        )
        is None
    )
    if may_bind:
        return
    rules = policy.role_rules(kind, namespace, role)
    if rules is None:
        raise NotFound(
            f'{role_resource}.{GROUP} "{role}" not found',
            name=role,
            group=GROUP,
            kind=role_resource,
        )
    missing = uncovered(policy.rules_for(subject_of(user), namespace), rules)
    if missing:
        name = meta.name_of(obj)
        raise _refuse(resource, name, escalation_message(user.name, user.groups, missing))


def escalation_admission(request: web.Request, call: Call) -> Admit | None:
    """The hook that refuses an escalating RBAC write; None where there is nothing to check."""
    user: User = request[keys.USER]
    resource = call.target.resource.name
    if user.is_admin or resource not in ROLES | BINDINGS or call.verb == "delete":
        return None
    index = request.app[keys.RBAC]

    def admit(old: Obj | None, new: Obj | None) -> None:
        if new is None:
            return
        if old is not None and {**old, "metadata": None} == {**new, "metadata": None}:
            return  # only metadata changes (labels, finalizers): nothing is granted
        namespace = meta.namespace_of(new) if call.target.resource.namespaced else ""
        check = _check_rules if resource in ROLES else _check_binding
        check(user, index.policy, resource=resource, namespace=namespace, obj=new)

    return admit
