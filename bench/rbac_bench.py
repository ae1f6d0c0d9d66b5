"""The RBAC authorizer's cost: one decision against an index of `bindings` RoleBindings (each
to its own Role, 100 namespaces) plus the default policy, and one compile of that index (what
the first decision after a change pays; a burst of changes pays it once).

Figures: an allowed and a denied resource decision and an allowed non-resource one (the user
holds one RoleBinding), in microseconds; the compile in milliseconds. Baseline of the
decisions: the node authorizer's rule for the same kind of request (a dictionary look-up and
a comparison).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.report import Figure
from nodeagent.server.auth import NODE_RULES, Attributes
from nodeagent.server.bootstrappolicy import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES
from nodeagent.server.rbac import Policy, Request, Subject

GROUP = "rbac.authorization.k8s.io"
BATCH = 1000


def _objects(bindings: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    roles: list[dict[str, object]] = []
    role_bindings: list[dict[str, object]] = []
    for i in range(bindings):
        ns = f"ns-{i % 100}"
        roles.append(
            {
                "metadata": {"name": f"role-{i}", "namespace": ns},
                "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}],
            }
        )
        role_bindings.append(
            {
                "metadata": {"name": f"binding-{i}", "namespace": ns},
                "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": f"role-{i}"},
                "subjects": [{"kind": "User", "apiGroup": GROUP, "name": f"user-{i}"}],
            }
        )
    return roles, role_bindings


def _us(fn: Callable[[], object], repeats: int) -> tuple[float, ...]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(BATCH):
            fn()
        out.append((time.perf_counter() - t0) / BATCH * 1e6)
    return tuple(out)


def run(*, bindings: int, repeats: int) -> list[Figure]:
    roles, role_bindings = _objects(bindings)

    def build() -> Policy:
        return Policy.build(
            roles=roles,
            cluster_roles=CLUSTER_ROLES,
            role_bindings=role_bindings,
            cluster_role_bindings=CLUSTER_ROLE_BINDINGS,
        )

    compiles = []
    for _ in range(max(1, repeats // 10)):
        t0 = time.perf_counter()
        policy = build()
        compiles.append((time.perf_counter() - t0) * 1000)
    who = Subject(name="user-1", groups=("system:authenticated",))
    allowed = Request(verb="list", resource="pods", namespace="ns-1")
    denied = Request(verb="delete", resource="pods", namespace="ns-1")
    path = Request(verb="get", path="/apis/apps/v1")
    node_rule = NODE_RULES["leases"]
    lease = Attributes(verb="get", resource="leases", namespace="kube-node-lease", name="n1")
    baseline = _us(lambda: node_rule("n1", lease), repeats)
    return [
        Figure(name=f"rbac.allow_{bindings}_bindings_us", unit="us",
               samples=_us(lambda: policy.allows(who, allowed), repeats),
               baseline_name="the node authorizer's lease rule", baseline=baseline),
        Figure(name=f"rbac.deny_{bindings}_bindings_us", unit="us",
               samples=_us(lambda: policy.allows(who, denied), repeats),
               baseline_name="the node authorizer's lease rule", baseline=baseline),
        Figure(name=f"rbac.nonresource_allow_{bindings}_bindings_us", unit="us",
               samples=_us(lambda: policy.allows(who, path), repeats),
               baseline_name="the node authorizer's lease rule", baseline=baseline),
        Figure(name=f"rbac.compile_{bindings}_bindings_ms", unit="ms", samples=tuple(compiles)),
    ]  # fmt: skip
