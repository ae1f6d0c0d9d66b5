"""The RBAC authorizer as a pure function: a table of rules and requests, bindings by subject,
the authorizer chain, escalation, aggregation, the default policy and impersonation."""

from __future__ import annotations

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import BadRequest
from nodeagent.server import impersonation
from nodeagent.server.auth import ADMIN, Attributes, User, authorize, decide
from nodeagent.server.bootstrappolicy import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES
from nodeagent.server.controllers.aggregationrules import aggregated_rules
from nodeagent.server.rbac import Policy, Request, Rule, Subject, rule_allows
from nodeagent.server.rbacbootstrap import reconciled_binding, reconciled_role
from nodeagent.server.rbacescalation import escalation_message, uncovered

GROUP = "rbac.authorization.k8s.io"


def rule(**fields: list[str]) -> Rule:
    return Rule.of(dict(fields.items()))


PODS_READ = rule(verbs=["get", "list", "watch"], apiGroups=[""], resources=["pods"])


@pytest.mark.parametrize(
    ("r", "request_", "allowed"),
    [
        pytest.param(PODS_READ, Request(verb="list", resource="pods"), True, id="exact"),
        pytest.param(PODS_READ, Request(verb="delete", resource="pods"), False, id="other-verb"),
        pytest.param(
            PODS_READ,
            Request(verb="get", api_group="apps", resource="pods"),
            False,
            id="other-group",
        ),
        pytest.param(
            PODS_READ,
            Request(verb="get", resource="pods", subresource="log"),
            False,
            id="subresource-not-covered-by-resource",
        ),
        pytest.param(
            rule(verbs=["*"], apiGroups=["*"], resources=["*"]),
            Request(verb="escalate", api_group=GROUP, resource="roles"),
            True,
            id="all-wildcards",
        ),
        pytest.param(
            rule(verbs=["get"], apiGroups=[""], resources=["*/status"]),
            Request(verb="get", resource="pods", subresource="status"),
            True,
            id="any-resource-status",
        ),
        pytest.param(
            rule(verbs=["get"], apiGroups=[""], resources=["pods/log"]),
            Request(verb="get", resource="pods", subresource="log"),
            True,
            id="named-subresource",
        ),
        pytest.param(
            rule(verbs=["get"], apiGroups=[""], resources=["configmaps"], resourceNames=["a"]),
            Request(verb="get", resource="configmaps", name="a"),
            True,
            id="resource-name",
        ),
        pytest.param(
            rule(verbs=["get"], apiGroups=[""], resources=["configmaps"], resourceNames=["a"]),
            Request(verb="get", resource="configmaps", name="b"),
            False,
            id="other-name",
        ),
        pytest.param(
            rule(verbs=["list"], apiGroups=[""], resources=["configmaps"], resourceNames=["a"]),
            Request(verb="list", resource="configmaps"),
            False,
            id="resource-names-never-match-a-nameless-request",
        ),
        pytest.param(
            rule(verbs=["get"], nonResourceURLs=["/metrics"]),
            Request(verb="get", path="/metrics"),
            True,
            id="url",
        ),
        pytest.param(
            rule(verbs=["get"], nonResourceURLs=["/healthz/*"]),
            Request(verb="get", path="/healthz/etcd"),
            True,
            id="url-prefix",
        ),
        pytest.param(
            rule(verbs=["get"], nonResourceURLs=["/healthz/*"]),
            Request(verb="get", path="/healthz"),
            False,
            id="url-prefix-needs-the-slash",
        ),
        pytest.param(
            rule(verbs=["get"], nonResourceURLs=["/metrics"]),
            Request(verb="post", path="/metrics"),
            False,
            id="url-other-verb",
        ),
        pytest.param(
            rule(verbs=["get"], nonResourceURLs=["/metrics"]),
            Request(verb="get", resource="metrics"),
            False,
            id="url-rule-is-no-resource-rule",
        ),
    ],
)
def test_rule_allows(r: Rule, request_: Request, allowed: bool) -> None:
    """Each of RuleAllows' matches: verbs, groups, resources, subresources, names, URLs."""
    assert rule_allows(r, request_) is allowed


def role(kind: str, name: str, rules: list[Rule], namespace: str = "") -> Obj:
    meta: Obj = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": meta, "rules": [r.as_obj() for r in rules]}


def binding(kind: str, name: str, ref: tuple[str, str], subjects: list[Obj], ns: str = "") -> Obj:
    meta: Obj = {"name": name, **({"namespace": ns} if ns else {})}
    return {
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": GROUP, "kind": ref[0], "name": ref[1]},
        "subjects": subjects,
    }


def user(name: str) -> Obj:
    return {"kind": "User", "apiGroup": GROUP, "name": name}


POLICY = Policy.build(
    roles=[role("Role", "pod-reader", [PODS_READ], "team")],
    cluster_roles=[
        role("ClusterRole", "view", [PODS_READ]),
        role("ClusterRole", "monitoring", [rule(verbs=["get"], nonResourceURLs=["/metrics"])]),
    ],
    role_bindings=[
        binding("RoleBinding", "jane", ("Role", "pod-reader"), [user("jane")], "team"),
        binding("RoleBinding", "ops-view", ("ClusterRole", "view"), [
            {"kind": "Group", "apiGroup": GROUP, "name": "ops"}], "prod"),
        binding("RoleBinding", "sa", ("ClusterRole", "view"), [
            {"kind": "ServiceAccount", "name": "fluent-bit"}], "kube-system"),
        binding("RoleBinding", "sa-url", ("ClusterRole", "monitoring"), [user("joe")], "team"),
    ],
    cluster_role_bindings=[
        binding("ClusterRoleBinding", "mon", ("ClusterRole", "monitoring"), [user("prom")]),
    ],
)  # fmt: skip


@pytest.mark.parametrize(
    ("who", "request_", "allowed"),
    [
        pytest.param(
            Subject(name="jane"),
            Request(verb="list", resource="pods", namespace="team"),
            True,
            id="rolebinding-in-its-namespace",
        ),
        pytest.param(
            Subject(name="jane"),
            Request(verb="list", resource="pods", namespace="prod"),
            False,
            id="rolebinding-not-elsewhere",
        ),
        pytest.param(
            Subject(name="jane"),
            Request(verb="list", resource="pods"),
            False,
            id="rolebinding-not-cluster-wide",
        ),
        pytest.param(
            Subject(name="x", groups=("ops",)),
            Request(verb="get", resource="pods", namespace="prod"),
            True,
            id="group",
        ),
        pytest.param(
            Subject(name="system:serviceaccount:kube-system:fluent-bit"),
            Request(verb="watch", resource="pods", namespace="kube-system"),
            True,
            id="serviceaccount-namespace-defaults-to-the-binding's",
        ),
        pytest.param(
            Subject(name="system:serviceaccount:default:fluent-bit"),
            Request(verb="watch", resource="pods", namespace="kube-system"),
            False,
            id="serviceaccount-of-another-namespace",
        ),
        pytest.param(
            Subject(name="prom"),
            Request(verb="get", path="/metrics"),
            True,
            id="clusterrolebinding-url",
        ),
        pytest.param(
            Subject(name="joe"),
            Request(verb="get", path="/metrics"),
            False,
            id="urls-only-through-clusterrolebindings",
        ),
    ],
)
def test_policy_allows(who: Subject, request_: Request, allowed: bool) -> None:
    """Bindings grant by user, group and ServiceAccount, where kube-apiserver's do."""
    assert POLICY.allows(who, request_) is allowed


def test_rules_for_lists_cluster_then_namespace_rules_once() -> None:
    """What `kubectl auth can-i --list -n team` shows for jane: her Role's rules."""
    assert POLICY.rules_for(Subject(name="jane"), "team") == [PODS_READ]
    assert POLICY.rules_for(Subject(name="jane"), "prod") == []


NODE = User(name="system:node:n1", groups=("system:nodes", "system:authenticated"), node="n1")


def test_chain_masters_then_node_authorizer_then_rbac() -> None:
    """system:masters may anything; a node is asked of the node authorizer, then of RBAC (its
    reason kept when both refuse); a user only of RBAC."""
    anything = Attributes(verb="delete", resource="nodes", name="n2")
    assert decide(ADMIN, anything) is None
    own = Attributes(verb="get", resource="nodes", name="n1")
    assert decide(NODE, own) is None
    other = Attributes(verb="get", resource="nodes", name="n2")
    assert decide(NODE, other) == "node 'n1' cannot read 'n2', only its own Node object"
    reader = Policy.build(
        cluster_roles=[role("ClusterRole", "nodes", [rule(verbs=["get"], apiGroups=[""],
                                                          resources=["nodes"])])],
        cluster_role_bindings=[binding("ClusterRoleBinding", "b", ("ClusterRole", "nodes"), [
            {"kind": "Group", "apiGroup": GROUP, "name": "system:nodes"}])],
    )  # fmt: skip
    assert decide(NODE, other, reader) is None
    jane = User(name="jane", groups=("system:authenticated",))
    assert decide(jane, Attributes(verb="list", resource="pods", namespace="team"), POLICY) is None
    assert decide(jane, Attributes(verb="list", resource="pods", namespace="prod"), POLICY) == ""


def test_forbidden_words() -> None:
    """kube-apiserver's Forbidden messages for a resource and for a non-resource path."""
    jane = User(name="jane")
    denied = authorize(jane, Attributes(verb="list", resource="roles", namespace="team"))
    assert denied is not None
    assert denied.message == (
        'roles.rbac.authorization.k8s.io is forbidden: User "jane" cannot list resource "roles"'
        ' in API group "rbac.authorization.k8s.io" in the namespace "team"'
    )
    denied = authorize(jane, Attributes(verb="get", path="/metrics"))
    assert denied is not None
    assert denied.message == 'forbidden: User "jane" cannot get path "/metrics"'


@pytest.mark.parametrize(
    ("held", "wanted", "missing"),
    [
        pytest.param([PODS_READ], [PODS_READ], 0, id="same"),
        pytest.param([PODS_READ], [rule(verbs=["get"], apiGroups=[""], resources=["pods"])], 0,
                     id="fewer-verbs"),
        pytest.param([PODS_READ], [rule(verbs=["delete"], apiGroups=[""], resources=["pods"])], 1,
                     id="another-verb"),
        pytest.param([PODS_READ], [rule(verbs=["*"], apiGroups=[""], resources=["pods"])], 1,
                     id="wildcard-needs-wildcard"),
        pytest.param([rule(verbs=["*"], apiGroups=["*"], resources=["*"])],
                     [rule(verbs=["get"], apiGroups=["apps"], resources=["daemonsets/status"])], 0,
                     id="cluster-admin-covers-all"),
        pytest.param([rule(verbs=["get"], apiGroups=[""], resources=["pods/*"])],
                     [rule(verbs=["get"], apiGroups=[""], resources=["pods/log"])], 0,
                     id="subresource-wildcard"),
        pytest.param([rule(verbs=["get"], apiGroups=[""], resources=["secrets"],
                           resourceNames=["a"])],
                     [rule(verbs=["get"], apiGroups=[""], resources=["secrets"])], 1,
                     id="named-does-not-cover-all-names"),
        pytest.param([rule(verbs=["get"], apiGroups=[""], resources=["secrets"])],
                     [rule(verbs=["get"], apiGroups=[""], resources=["secrets"],
                           resourceNames=["a", "b"])], 0, id="unnamed-covers-names"),
        pytest.param([rule(verbs=["get"], nonResourceURLs=["/metrics*"])],
                     [rule(verbs=["get"], nonResourceURLs=["/metrics/slis", "/healthz"])], 1,
                     id="url-prefix"),
    ],
)  # fmt: skip
def test_escalation_covers(held: list[Rule], wanted: list[Rule], missing: int) -> None:
    """validation.Covers: each atom of what is granted must be held."""
    assert len(uncovered(held, wanted)) == missing


def test_escalation_message_compacts_and_sorts() -> None:
    """ConfirmNoEscalation's words, the missing atoms merged by verb."""
    wanted = [rule(verbs=["delete", "create"], apiGroups=[""], resources=["pods", "configmaps"])]
    text = escalation_message("jane", ["system:authenticated"], uncovered([PODS_READ], wanted))
    assert text == (
        'user "jane" (groups=["system:authenticated"]) is attempting to grant RBAC permissions'
        " not currently held:\n"
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["delete" "create"]}\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "create"]}'
    )


def _labelled(name: str, labels: dict[str, str], rules: list[Obj]) -> Obj:
    return {"metadata": {"name": name, "labels": labels}, "rules": rules}


def test_aggregation_unions_matching_roles_by_name_each_rule_once() -> None:
    """The clusterrole-aggregation controller's rules: selected roles in name order, no
    duplicates, never itself, nothing for a role without an aggregationRule."""
    a, b = {"verbs": ["get"], "apiGroups": [""], "resources": ["a"]}, {"verbs": ["get"]}
    agg = {
        "metadata": {"name": "agg", "labels": {"x": "y"}},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]},
        "rules": [{"verbs": ["stale"]}],
    }
    roles = [agg, _labelled("z", {"x": "y"}, [b, a]), _labelled("m", {"x": "y"}, [a]),
             _labelled("n", {"x": "no"}, [{"verbs": ["never"]}])]  # fmt: skip
    assert aggregated_rules(agg, roles) == [a, b]
    assert aggregated_rules(roles[1], roles) is None


def test_default_policy_as_kubernetes_ships_it() -> None:
    """cluster-admin for system:masters, discovery, basic-user and public info for every
    authenticated user, /metrics through system:monitoring, aggregated admin/edit/view."""
    by_name = {r["metadata"]["name"]: r for r in CLUSTER_ROLES}
    assert by_name["cluster-admin"]["rules"][0] == {
        "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}  # fmt: skip
    assert "/metrics" in by_name["system:monitoring"]["rules"][0]["nonResourceURLs"]
    assert by_name["edit"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"]
    policy = Policy.build(cluster_roles=CLUSTER_ROLES, cluster_role_bindings=CLUSTER_ROLE_BINDINGS)
    someone = Subject(name="someone", groups=("system:authenticated",))
    assert policy.allows(someone, Request(verb="get", path="/apis/apps/v1"))
    assert policy.allows(someone, Request(verb="get", path="/openapi/v2"))
    assert not policy.allows(someone, Request(verb="get", path="/metrics"))
    assert policy.allows(Subject(name="x", groups=("system:monitoring",)),
                         Request(verb="get", path="/metrics"))  # fmt: skip
    anonymous = Subject(name="system:anonymous", groups=("system:unauthenticated",))
    assert policy.allows(anonymous, Request(verb="get", path="/version"))
    assert not policy.allows(anonymous, Request(verb="get", path="/api"))


def test_bootstrap_reconcile_adds_back_what_is_missing_unless_autoupdate_is_off() -> None:
    """The rbac/bootstrap-roles hook: missing rules and subjects return, extras stay, and a
    role annotated autoupdate=false is left as the user made it."""
    default = next(r for r in CLUSTER_ROLES if r["metadata"]["name"] == "system:monitoring")
    extra = {"verbs": ["get"], "nonResourceURLs": ["/debug"]}
    edited = {**default, "rules": [extra]}
    fixed = reconciled_role(edited, default)
    assert fixed is not None
    assert fixed["rules"] == [extra, *default["rules"]]
    assert reconciled_role(default, default) is None
    off = {**edited, "metadata": {**default["metadata"], "annotations": {
        "rbac.authorization.kubernetes.io/autoupdate": "false"}}}  # fmt: skip
    assert reconciled_role(off, default) is None
    bound = CLUSTER_ROLE_BINDINGS[0]
    more = {**bound, "subjects": [user("jane")]}
    fixed = reconciled_binding(more, bound)
    assert fixed is not None
    assert fixed["subjects"] == [user("jane"), *bound["subjects"]]


def test_impersonation_headers() -> None:
    """Impersonate-* headers: what must be allowed, and who the request then acts as."""
    want = impersonation.requested(
        [
            ("Impersonate-User", "system:serviceaccount:kube-system:fluent-bit"),
            ("Impersonate-Extra-Reason%2Fwhy", "debug"),
        ]
    )
    assert want is not None
    checks = impersonation.checks(want)
    assert [(c.resource, c.namespace, c.name, c.subresource) for c in checks] == [
        ("serviceaccounts", "kube-system", "fluent-bit", ""),
        ("userextras", "", "debug", "reason/why"),
    ]
    acting = impersonation.acting_user(want)
    assert acting.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:kube-system",
        "system:authenticated",
    )
    node = impersonation.acting_user(
        impersonation.Wanted(user="system:node:n1", groups=("system:nodes",))
    )
    assert node.node == "n1"
    assert impersonation.requested([("Accept", "x")]) is None
    with pytest.raises(BadRequest):
        impersonation.requested([("Impersonate-Group", "system:masters")])
