"""Authentication of bearer tokens and the node authorizer's pure decisions."""

from __future__ import annotations

import pytest

from nodeagent.api import tokens
from nodeagent.api.errors import Unauthorized
from nodeagent.api.tokens import node_bearer_token
from nodeagent.server import auth
from nodeagent.server.auth import ADMIN, Attributes, Authenticator, authorize

AUTH = Authenticator(admin_token="admin-secret", join_secret="join")
N1 = AUTH.authenticate("Bearer " + node_bearer_token("join", "n1"))


def pod(node: str, **annotations: str) -> dict[str, object]:
    return {"metadata": {"annotations": annotations}, "spec": {"nodeName": node}}


def test_tokens_identify_callers() -> None:
    assert AUTH.authenticate("Bearer admin-secret") == ADMIN
    assert N1.name == "system:node:n1"
    assert N1.node == "n1"
    for header in (None, "", "Basic x", "Bearer nope", "Bearer " + node_bearer_token("x", "n1")):
        with pytest.raises(Unauthorized):
            AUTH.authenticate(header)


@pytest.mark.parametrize(
    ("attrs", "allowed"),
    [
        (Attributes(verb="list", resource="pods", node_selector="n1"), True),
        (Attributes(verb="watch", resource="pods", node_selector="n1"), True),
        (Attributes(verb="list", resource="pods"), False),
        (Attributes(verb="watch", resource="pods", node_selector="n2"), False),
        (Attributes(verb="get", resource="pods", name="p", obj=pod("n1")), True),
        (Attributes(verb="get", resource="pods", name="p", obj=pod("n2")), False),
        (Attributes(verb="get", resource="pods", name="absent"), False),
        (Attributes(verb="list", resource="pods", name="p", obj=pod("n1")), True),
        # create and delete: NodeRestriction judges the object (test_noderestriction.py)
        (Attributes(verb="delete", resource="pods", name="p"), True),
        (Attributes(verb="update", resource="pods", name="p", obj=pod("n1")), False),
        (Attributes(verb="patch", resource="pods", name="p", obj=pod("n1")), False),
        (Attributes(verb="deletecollection", resource="pods", namespace="default"), False),
        (
            Attributes(
                verb="update", resource="pods", subresource="status", name="p", obj=pod("n1")
            ),
            True,
        ),
        (
            Attributes(
                verb="create",
                resource="pods",
                obj=pod("n1", **{"kubernetes.io/config.mirror": "x"}),
            ),
            True,
        ),
        (
            Attributes(verb="get", resource="pods", subresource="status", name="p", obj=pod("n1")),
            False,
        ),
        (Attributes(verb="create", resource="pods", subresource="exec", name="p"), False),
        (Attributes(verb="create", resource="pods", obj=pod("n1")), True),
        (Attributes(verb="update", resource="nodes", name="n1"), True),
        (Attributes(verb="patch", resource="nodes", name="n2"), True),
        (Attributes(verb="update", resource="nodes", subresource="status", name="n1"), True),
        (Attributes(verb="delete", resource="nodes", name="n1"), False),
        (Attributes(verb="get", resource="nodes", name="n1"), True),
        (Attributes(verb="watch", resource="nodes", name="n1"), True),
        (Attributes(verb="get", resource="nodes", name="n2"), False),
        (Attributes(verb="list", resource="nodes"), False),
        (
            Attributes(verb="update", resource="leases", namespace="kube-node-lease", name="n1"),
            True,
        ),
        (Attributes(verb="update", resource="leases", namespace="default", name="n1"), False),
        (Attributes(verb="get", resource="leases", namespace="kube-node-lease", name="n2"), False),
        (Attributes(verb="list", resource="leases", namespace="kube-node-lease"), False),
        (Attributes(verb="create", resource="leases", namespace="kube-node-lease"), True),
        (Attributes(verb="create", resource="events", namespace="default"), True),
        (Attributes(verb="patch", resource="events", namespace="default", name="e"), True),
        (Attributes(verb="list", resource="events", namespace="default"), False),
        (Attributes(verb="list", resource="services", namespace="default"), True),
        (Attributes(verb="get", resource="namespaces", name="default"), False),
        (Attributes(verb="list", resource="daemonsets"), False),
    ],
)
def test_node_authorizer(attrs: Attributes, allowed: bool) -> None:
    assert (authorize(N1, attrs) is None) == allowed
    assert authorize(ADMIN, attrs) is None


def test_forbidden_message_is_kubernetes_wording() -> None:
    """kube-apiserver's sentence, and the node authorizer's reason after a colon if it has one."""
    err = authorize(N1, Attributes(verb="delete", resource="nodes", name="n2"))
    assert err is not None
    assert err.message == (
        'nodes "n2" is forbidden: User "system:node:n1" cannot delete resource "nodes" in API '
        'group "" at the cluster scope'
    )
    err = authorize(N1, Attributes(verb="get", resource="nodes", name="n2"))
    assert err is not None
    assert err.message == (
        'nodes "n2" is forbidden: User "system:node:n1" cannot get resource "nodes" in API '
        "group \"\" at the cluster scope: node 'n1' cannot read 'n2', only its own Node object"
    )
    err = authorize(
        N1, Attributes(verb="get", resource="pods", namespace="default", name="p", obj=pod("n2"))
    )
    assert err is not None
    assert err.message == (
        'pods "p" is forbidden: User "system:node:n1" cannot get resource "pods" in API group "" '
        "in the namespace \"default\": no relationship found between node 'n1' and this object"
    )
    err = authorize(N1, Attributes(verb="list", resource="daemonsets", namespace="kube-system"))
    assert err is not None
    assert err.message == (
        'daemonsets.apps is forbidden: User "system:node:n1" cannot list resource "daemonsets" '
        'in API group "apps" in the namespace "kube-system"'
    )


def test_a_node_token_is_verified_once_and_a_forged_one_never_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The HMAC of a valid node token is computed on first use only; a token signed with
    another secret stays Unauthorized however often it comes."""
    calls: list[str] = []
    verify = tokens.node_of_token

    def counting(secret: str, token: str) -> str | None:
        calls.append(token)
        return verify(secret, token)

    monkeypatch.setattr(auth, "node_of_token", counting)
    fresh = Authenticator(admin_token="admin-secret", join_secret="join")
    token = node_bearer_token("join", "n7")
    users = [fresh.authenticate("Bearer " + token) for _ in range(5)]
    assert {u.name for u in users} == {"system:node:n7"}
    assert calls == [token]
    forged = node_bearer_token("other", "n7")
    for _ in range(3):
        with pytest.raises(Unauthorized):
            fresh.authenticate("Bearer " + forged)
    assert calls == [token, forged, forged, forged]


def test_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound the memory starts over, and every token still authenticates right."""
    monkeypatch.setattr(auth, "KNOWN_TOKENS_MAX", 3)
    fresh = Authenticator(admin_token="admin-secret", join_secret="join")
    for i in range(10):
        user = fresh.authenticate("Bearer " + node_bearer_token("join", f"n{i}"))
        assert user.node == f"n{i}"
        assert len(fresh._known) <= 3
