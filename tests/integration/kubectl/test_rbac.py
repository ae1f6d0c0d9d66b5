"""RBAC with the real kubectl: roles and bindings made with `kubectl create`, enforced for a user
the admin impersonates (`--as`), `kubectl auth can-i [--list]`, /metrics through
system:monitoring, escalation prevention, and who may call the reviews and impersonate."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from nodeagent.api.bodies import Obj
from tests.integration.kubectl.conftest import SUITE_NODES, Cluster, table, wait_for

AUTHZ = "/apis/authorization.k8s.io/v1"
T = TypeVar("T")


def until(probe: Callable[[], T], ok: Callable[[T], bool], *, what: str) -> T:
    """probe() again until ok(its answer) (a binding takes effect through a watch)."""

    def check() -> list[T] | None:
        answer = probe()
        return [answer] if ok(answer) else None

    return wait_for(check, what=what)[0]


def succeeded(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0


def call(
    cluster: Cluster,
    method: str,
    path: str,
    body: Obj | None = None,
    *,
    token: str | None = "admin",
    headers: dict[str, str] | None = None,
) -> tuple[int, Obj]:
    """One HTTPS request; token "admin" is the admin's, None is no Authorization at all."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = (
            f"Bearer {cluster.server.admin_token if token == 'admin' else token}"
        )
    request = urllib.request.Request(
        cluster.server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers=sent,
    )
    context = ssl.create_default_context(cafile=str(cluster.server.ca_file))
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            text = response.read()
            return response.status, json.loads(text) if text.startswith(b"{") else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_role_and_binding_made_with_kubectl_limit_a_user_to_its_namespace(
    cluster: Cluster, ns: str
) -> None:
    """A Role and RoleBinding from `kubectl create`: the user lists pods there, gets 403
    elsewhere, `auth can-i --list` shows the role, and get/describe show the binding."""
    jane = f"jane-{ns}"
    cluster.kubectl(
        "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", ns,
        check=True,
    )  # fmt: skip
    cluster.kubectl(
        "create", "rolebinding", "reads", "--role=pod-reader", f"--user={jane}",
        "--group=readers", f"--serviceaccount={ns}:fluent-bit", "-n", ns, check=True,
    )  # fmt: skip
    rows = table(cluster.kubectl("get", "rolebinding", "reads", "-n", ns, "-o", "wide").stdout)
    assert rows[0] == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert [rows[1][i] for i in (0, 1, 3, 4, 5)] == [
        "reads", "Role/pod-reader", jane, "readers", f"{ns}/fluent-bit"]  # fmt: skip
    mine = until(
        lambda: cluster.kubectl("get", "pods", "-n", ns, f"--as={jane}"), succeeded,
        what="the binding in force",
    )  # fmt: skip
    assert "No resources found" in mine.stderr
    elsewhere = cluster.kubectl("get", "pods", "-n", "default", f"--as={jane}")
    assert elsewhere.returncode == 1
    assert (
        f'pods is forbidden: User "{jane}" cannot list resource "pods" in API group "" in the '
        'namespace "default"'
    ) in elsewhere.stderr
    listing = table(cluster.kubectl("auth", "can-i", "--list", "-n", ns, f"--as={jane}").stdout)
    assert ["pods", "[]", "[]", "[get list watch]"] in listing
    assert not any(row[0] == "secrets" for row in listing)
    sa = f"system:serviceaccount:{ns}:fluent-bit"
    can = cluster.kubectl("auth", "can-i", "watch", "pods", "-n", ns, f"--as={sa}")
    assert can.stdout.strip() == "yes", can.stderr
    cannot = cluster.kubectl("auth", "can-i", "delete", "pods", "-n", ns, f"--as={sa}")
    assert cannot.stdout.strip() == "no", cannot.stderr
    sa_listing = table(cluster.kubectl("auth", "can-i", "--list", "-n", ns, f"--as={sa}").stdout)
    assert ["pods", "[]", "[]", "[get list watch]"] in sa_listing
    described = cluster.kubectl("describe", "rolebinding", "reads", "-n", ns, check=True).stdout
    assert "Role:\n  Kind:  Role\n  Name:  pod-reader" in described
    changed = cluster.kubectl(
        "patch", "rolebinding", "reads", "-n", ns, "--type=merge",
        "-p", '{"roleRef":{"name":"other"}}',
    )  # fmt: skip
    assert changed.returncode == 1
    assert (
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", '
        'Name:"other"}: cannot change roleRef'
    ) in changed.stderr


def test_a_view_bound_service_account_token_reads_everywhere_and_cannot_delete(
    cluster: Cluster, ns: str
) -> None:
    """A ServiceAccount bound to `view` cluster-wide, with its own token (kubectl create
    token): lists pods in all namespaces, 403 on a delete and on Secrets."""
    cluster.kubectl("create", "serviceaccount", "dashboard", "-n", ns, check=True)
    cluster.kubectl(
        "create", "clusterrolebinding", f"dashboard-{ns}", "--clusterrole=view",
        f"--serviceaccount={ns}:dashboard", check=True,
    )  # fmt: skip
    token = cluster.kubectl("create", "token", "dashboard", "-n", ns, check=True).stdout.strip()
    as_sa = ("--token", token)
    listed = until(
        lambda: cluster.kubectl("get", "pods", "-A", *as_sa), succeeded, what="view in force"
    )
    assert "forbidden" not in listed.stderr
    deleted = cluster.kubectl("delete", "pod", "x", "-n", ns, *as_sa)
    assert deleted.returncode == 1
    user = f"system:serviceaccount:{ns}:dashboard"
    assert (
        f'pods "x" is forbidden: User "{user}" cannot delete resource "pods" in API group "" in '
        f'the namespace "{ns}"'
    ) in deleted.stderr
    secrets = cluster.kubectl("get", "secrets", "-n", ns, *as_sa)
    assert 'cannot list resource "secrets"' in secrets.stderr


def test_default_cluster_roles_are_listed_and_aggregated(cluster: Cluster) -> None:
    """The bootstrap ClusterRoles with kubectl's columns; view holds the aggregated rules of
    system:aggregate-to-view, and a labelled ClusterRole of the user's joins them."""
    rows = table(cluster.kubectl("get", "clusterrole").stdout)
    assert rows[0] == ["NAME", "CREATED AT"]
    names = {row[0] for row in rows[1:]}
    assert {"cluster-admin", "admin", "edit", "view", "system:monitoring"} <= names
    cluster.kubectl(
        "create", "clusterrole", "widgets-view", "--verb=get", "--resource=configmaps",
        "--resource-name=widgets", check=True,
    )  # fmt: skip
    cluster.kubectl(
        "label", "clusterrole", "widgets-view",
        "rbac.authorization.k8s.io/aggregate-to-view=true", check=True,
    )  # fmt: skip

    def view_rules() -> list[Obj] | None:
        got = cluster.kubectl("get", "clusterrole", "view", "-o", "json", check=True).stdout
        rules: list[Obj] = json.loads(got)["rules"]
        return rules if any(r.get("resourceNames") == ["widgets"] for r in rules) else None

    rules = wait_for(view_rules, what="view aggregating widgets-view")
    apps = ["controllerrevisions", "daemonsets", "daemonsets/status"]
    assert {"verbs": ["get", "list", "watch"], "apiGroups": ["apps"], "resources": apps} in rules


def test_metrics_forbidden_until_bound_to_system_monitoring(cluster: Cluster) -> None:
    """/metrics is a non-resource URL: 403 for a user without it, 200 once the user is bound
    to system:monitoring."""
    who = "prometheus-scraper"
    denied = cluster.kubectl("get", "--raw", "/metrics", f"--as={who}")
    assert denied.returncode == 1
    assert f'forbidden: User "{who}" cannot get path "/metrics"' in denied.stderr
    discovery = cluster.kubectl("get", "--raw", "/apis", f"--as={who}")
    assert discovery.returncode == 0, discovery.stderr  # system:discovery: everyone
    cluster.kubectl(
        "create", "clusterrolebinding", "scraper", "--clusterrole=system:monitoring",
        f"--user={who}", check=True,
    )  # fmt: skip
    scraped = until(
        lambda: cluster.kubectl("get", "--raw", "/metrics", f"--as={who}"), succeeded,
        what="/metrics readable",
    )  # fmt: skip
    assert "apiserver_request_total" in scraped.stdout


def test_escalation_needs_the_rules_or_the_verbs(cluster: Cluster, ns: str) -> None:
    """A user who may write roles and bindings in a namespace may grant only what it holds."""
    boss = f"boss-{ns}"
    cluster.kubectl(
        "create", "role", "rbac-writer", "--verb=create,get,list", "--resource=roles,rolebindings",
        "-n", ns, check=True,
    )  # fmt: skip
    cluster.kubectl(
        "create", "rolebinding", "boss", "--role=rbac-writer", f"--user={boss}", "-n", ns,
        check=True,
    )  # fmt: skip
    as_boss = ("-n", ns, f"--as={boss}")
    wait_for(
        lambda: (
            cluster.kubectl("auth", "can-i", "create", "roles", *as_boss).stdout.strip() == "yes"
        ),
        what="the binding in force",
    )
    held = cluster.kubectl("create", "role", "sub", "--verb=get", "--resource=roles", *as_boss)
    assert held.returncode == 0, held.stderr
    more = cluster.kubectl("create", "role", "more", "--verb=delete", "--resource=pods", *as_boss)
    assert more.returncode == 1
    assert (
        f'roles.rbac.authorization.k8s.io "more" is forbidden: user "{boss}" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
        'currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}'
    ) in more.stderr
    bind_admin = cluster.kubectl(
        "create", "rolebinding", "b", "--clusterrole=admin", "--user=x", *as_boss
    )
    assert bind_admin.returncode == 1
    assert "is attempting to grant RBAC permissions not currently held" in bind_admin.stderr
    bind_held = cluster.kubectl(
        "create", "rolebinding", "b2", "--role=rbac-writer", "--user=x", *as_boss
    )
    assert bind_held.returncode == 0, bind_held.stderr
    cluster.kubectl(
        "create", "role", "binder", "--verb=bind", "--resource=clusterroles",
        "--resource-name=admin", "-n", ns, check=True,
    )  # fmt: skip
    cluster.kubectl(
        "create", "rolebinding", "boss-binds", "--role=binder", f"--user={boss}", "-n", ns,
        check=True,
    )  # fmt: skip
    with_bind = until(
        lambda: cluster.kubectl(
            "create", "rolebinding", "b3", "--clusterrole=admin", "--user=x", *as_boss
        ),
        succeeded,
        what="bind on admin in force",
    )  # fmt: skip
    assert "created" in with_bind.stdout


def test_who_may_call_the_reviews(cluster: Cluster, ns: str) -> None:
    """Self reviews: any authenticated caller (401 without a token); SubjectAccessReview: the
    admin; LocalSubjectAccessReview: who holds it in the namespace (admin's rules)."""
    spec: Obj = {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": ns}}
    ssar: Obj = {"kind": "SelfSubjectAccessReview", "spec": spec}
    jane = {"Impersonate-User": f"jane-{ns}"}
    assert call(cluster, "POST", f"{AUTHZ}/selfsubjectaccessreviews", ssar, token=None)[0] == 401
    status, body = call(cluster, "POST", f"{AUTHZ}/selfsubjectaccessreviews", ssar, headers=jane)
    assert (status, body["status"]) == (201, {"allowed": False})
    ssrr: Obj = {"kind": "SelfSubjectRulesReview", "spec": {"namespace": ns}}
    status, body = call(cluster, "POST", f"{AUTHZ}/selfsubjectrulesreviews", ssrr, headers=jane)
    assert status == 201
    assert body["status"]["incomplete"] is False
    assert {"verbs": ["get"], "nonResourceURLs": ["/version"]} not in body["status"][
        "resourceRules"
    ]
    sar: Obj = {"kind": "SubjectAccessReview", "spec": {**spec, "user": f"jane-{ns}"}}
    status, body = call(cluster, "POST", f"{AUTHZ}/subjectaccessreviews", sar, headers=jane)
    assert status == 403, body
    status, body = call(cluster, "POST", f"{AUTHZ}/subjectaccessreviews", sar)
    assert (status, body["status"]["allowed"]) == (201, False)
    status, body = call(
        cluster, "POST", f"{AUTHZ}/subjectaccessreviews",
        {"kind": "SubjectAccessReview", "spec": {**spec, "groups": ["system:masters"]}},
    )  # fmt: skip
    assert (status, body["status"]["allowed"]) == (201, True)
    status, body = call(cluster, "POST", f"{AUTHZ}/subjectaccessreviews", {"spec": spec})
    assert status == 422
    assert "spec.user: Invalid value" in body["message"]
    lsar: Obj = {"kind": "LocalSubjectAccessReview", "spec": {**spec, "user": f"jane-{ns}"}}
    local = f"{AUTHZ}/namespaces/{ns}/localsubjectaccessreviews"
    assert call(cluster, "POST", local, lsar, headers=jane)[0] == 403
    cluster.kubectl(
        "create", "rolebinding", "jane-admin", "--clusterrole=admin", f"--user=jane-{ns}",
        "-n", ns, check=True,
    )  # fmt: skip
    status, body = until(
        lambda: call(cluster, "POST", local, lsar, headers=jane), lambda r: r[0] == 201,
        what="admin's localsubjectaccessreviews",
    )  # fmt: skip
    assert body["status"]["allowed"] is True


def test_impersonation_needs_the_impersonate_verb(cluster: Cluster, ns: str) -> None:
    """A caller without `impersonate` on users is refused (403), with it the request acts as
    the user; the admin (system:masters) may; the audit log records both users; a node
    impersonated as a node is limited by the node authorizer."""
    node = SUITE_NODES[0]
    token = cluster.server.node_token(node)
    as_bob = {"Impersonate-User": "bob"}
    status, body = call(cluster, "GET", "/api/v1/namespaces", token=token, headers=as_bob)
    assert status == 403
    assert body["message"] == (
        f'users "bob" is forbidden: User "system:node:{node}" cannot impersonate resource '
        '"users" in API group "" at the cluster scope'
    )
    cluster.kubectl(
        "create", "clusterrole", f"impersonate-bob-{ns}", "--verb=impersonate",
        "--resource=users", "--resource-name=bob", check=True,
    )  # fmt: skip
    cluster.kubectl(
        "create", "clusterrolebinding", f"impersonate-bob-{ns}",
        f"--clusterrole=impersonate-bob-{ns}", f"--user=system:node:{node}", check=True,
    )  # fmt: skip
    until(
        lambda: call(cluster, "GET", "/apis", token=token, headers=as_bob),
        lambda r: r[0] == 200,
        what="impersonate in force",
    )
    denied_as_bob = call(cluster, "GET", "/api/v1/namespaces", token=token, headers=as_bob)
    assert denied_as_bob[0] == 403
    assert 'User "bob" cannot list resource "namespaces"' in denied_as_bob[1]["message"]
    groups = {**as_bob, "Impersonate-Group": "system:masters"}
    assert call(cluster, "GET", "/api/v1/namespaces", token=token, headers=groups)[0] == 403
    whoami = cluster.kubectl(
        "auth", "whoami", f"--as=system:serviceaccount:{ns}:fluent-bit", "-o", "json", check=True
    )
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    sa_groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    assert info["groups"] == [*sa_groups, "system:authenticated"]
    as_node = cluster.kubectl(
        "get", "pods", "-A", f"--as=system:node:{node}", "--as-group=system:nodes"
    )
    assert "can only list/watch pods with spec.nodeName field selector" in as_node.stderr
    cluster.kubectl(
        "create", "configmap", "audited", "-n", ns, "--as=carol", "--as-group=system:masters",
        check=True,
    )  # fmt: skip
    lines = (cluster.server.data_dir / "audit.log").read_text().splitlines()
    records = [
        r
        for r in map(json.loads, lines)
        if r.get("objectRef", {}).get("resource") == "configmaps"
        and r["objectRef"].get("namespace") == ns
    ]
    assert records[-1]["user"]["username"] == "admin"
    assert records[-1]["impersonatedUser"] == {
        "username": "carol", "groups": ["system:masters", "system:authenticated"]}  # fmt: skip
