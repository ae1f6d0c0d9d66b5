"""The default RBAC policy every server starts with, as data (kube-apiserver's
plugin/pkg/auth/authorizer/rbac/bootstrappolicy), for the resources this server serves.

CLUSTER_ROLES and CLUSTER_ROLE_BINDINGS are made at start and reconciled as the
rbac/bootstrap-roles post-start hook does (rbacbootstrap.py). admin, edit and view are
aggregated: their rules are filled from the system:aggregate-to-* roles (and any ClusterRole
a user labels the same way) by the aggregation controller. Pure.
"""

from __future__ import annotations

from nodeagent.api.bodies import Obj
from nodeagent.api.resources import RBAC_GROUP

AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAPPING = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"

READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")
READ_WRITE = (*READ, "create", "update", "patch", "delete", "deletecollection")


def _rule(verbs: tuple[str, ...], group: str, *resources: str) -> Obj:
    return {"verbs": list(verbs), "apiGroups": [group], "resources": list(resources)}


def _urls(verbs: tuple[str, ...], *urls: str) -> Obj:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def _meta(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {
        "name": name,
        "labels": {**BOOTSTRAPPING, **(labels or {})},
        "annotations": {AUTOUPDATE: "true"},
    }


def _cluster_role(name: str, rules: list[Obj], labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, labels),
        "rules": rules,
    }


def _aggregated(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, labels),
        "aggregationRule": {
            "clusterRoleSelectors": [{"matchLabels": {f"{AGGREGATE_TO}{name}": "true"}}]
        },
        "rules": [],
    }


CLUSTER_ROLES: tuple[Obj, ...] = (
    _cluster_role(
        "cluster-admin",
        [_rule(("*",), "*", "*"), _urls(("*",), "*")],
    ),
    _aggregated("admin"),
    _aggregated("edit", {f"{AGGREGATE_TO}admin": "true"}),
    _aggregated("view", {f"{AGGREGATE_TO}edit": "true"}),
    _cluster_role(
        "system:aggregate-to-admin",
        [
            _rule(("create",), "authorization.k8s.io", "localsubjectaccessreviews"),
            _rule(READ_WRITE, RBAC_GROUP, "roles", "rolebindings"),
        ],
        {f"{AGGREGATE_TO}admin": "true"},
    ),
    _cluster_role(
        "system:aggregate-to-edit",
        [
            # read access to the escalating resources
            _rule(READ, "", "pods/attach", "pods/exec", "secrets"),
            _rule(("impersonate",), "", "serviceaccounts"),
            _rule(WRITE, "", "pods", "pods/attach", "pods/exec"),
            _rule(("create",), "", "pods/eviction"),
            _rule(WRITE, "", "serviceaccounts", "configmaps", "secrets", "events"),
            _rule(("create",), "", "serviceaccounts/token"),
            _rule(WRITE, "apps", "daemonsets"),
        ],
        {f"{AGGREGATE_TO}edit": "true"},
    ),
    _cluster_role(
        "system:aggregate-to-view",
        [
            _rule(READ, "", "pods", "serviceaccounts", "services", "configmaps"),
            _rule(READ, "", "events", "pods/status", "pods/log"),
            # reading a namespace at namespace scope says it is visible to the user
            _rule(READ, "", "namespaces"),
            _rule(READ, "apps", "controllerrevisions", "daemonsets", "daemonsets/status"),
        ],
        {f"{AGGREGATE_TO}view": "true"},
    ),
    _cluster_role(
        "system:discovery",
        [
            _urls(
                ("get",),
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            )
        ],
    ),
    _cluster_role(
        "system:basic-user",
        [
            _rule(
                ("create",),
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                "selfsubjectrulesreviews",
            ),
            _rule(("create",), "authentication.k8s.io", "selfsubjectreviews"),
        ],
    ),
    _cluster_role(
        "system:public-info-viewer",
        [_urls(("get",), "/healthz", "/livez", "/readyz", "/version", "/version/")],
    ),
    _cluster_role(
        "system:service-account-issuer-discovery",
        [
            _urls(
                ("get",),
                "/.well-known/openid-configuration",
                "/.well-known/openid-configuration/",
                "/openid/v1/jwks",
                "/openid/v1/jwks/",
            )
        ],
    ),
    _cluster_role(
        "system:monitoring",
        [
            _urls(
                ("get",),
                "/metrics",
                "/metrics/slis",
                "/livez",
                "/readyz",
                "/healthz",
                "/livez/*",
                "/readyz/*",
                "/healthz/*",
            )
        ],
    ),
)


def _binding(name: str, *groups: str, role: str | None = None) -> Obj:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role or name},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups],
    }


CLUSTER_ROLE_BINDINGS: tuple[Obj, ...] = (
    _binding("cluster-admin", "system:masters"),
    _binding("system:discovery", "system:authenticated"),
    _binding("system:basic-user", "system:authenticated"),
    _binding("system:public-info-viewer", "system:authenticated", "system:unauthenticated"),
    _binding("system:monitoring", "system:monitoring"),
    _binding("system:service-account-issuer-discovery", "system:serviceaccounts"),
)
