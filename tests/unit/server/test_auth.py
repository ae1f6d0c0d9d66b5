"""Authentication of bearer tokens and the node authorizer's pure decisions."""

from __future__ import annotations

import pytest

from nodeagent.api.errors import Unauthorized
from nodeagent.api.tokens import make_node_token
from nodeagent.server.auth import ADMIN, BOOTSTRAP, Attributes, Authenticator, User, authorize
from tests.support.server import hmac_node_token

N1_TOKEN = make_node_token("n1", "s3cret")


class Verifier:
    """Node tokens as a dict (server/credentials.py reads the store); counts its calls."""

    def __init__(self, live: dict[str, str]) -> None:
        self.live = live
        self.calls: list[str] = []

    async def node_of(self, token: str) -> str | None:
        self.calls.append(token)
        return self.live.get(token)


AUTH = Authenticator(
    admin_token="admin-secret", join_secret="join", nodes=Verifier({N1_TOKEN: "n1"})
)
N1 = User(name="system:node:n1", groups=("system:nodes", "system:authenticated"), node="n1")


def pod(node: str, **annotations: str) -> dict[str, object]:
    return {"metadata": {"annotations": annotations}, "spec": {"nodeName": node}}


async def test_tokens_identify_callers() -> None:
    """The admin token is the admin, a live node token its node; nothing else passes. The
    scheme's case does not matter (the Python client's in-cluster config says `bearer`)."""
    assert await AUTH.authenticate("Bearer admin-secret") == ADMIN
    assert await AUTH.authenticate("bearer admin-secret") == ADMIN
    assert await AUTH.authenticate("Bearer " + N1_TOKEN) == N1
    old_scheme = "Bearer " + hmac_node_token("join", "n1")
    for header in (None, "", "Basic x", "Bearer nope", old_scheme, "Bearer join", "Bearer ",
                   "Bearer", "Bearerx admin-secret"):  # fmt: skip
        with pytest.raises(Unauthorized):
            await AUTH.authenticate(header)


async def test_the_join_secret_is_a_credential_only_for_enrolment() -> None:
    """On the enrolment path the join secret is the bootstrap user; other callers stay who
    they are there (the endpoint refuses them itself)."""
    assert await AUTH.authenticate("Bearer join", enrolment=True) == BOOTSTRAP
    assert await AUTH.authenticate("Bearer admin-secret", enrolment=True) == ADMIN
    assert await AUTH.authenticate("Bearer " + N1_TOKEN, enrolment=True) == N1
    with pytest.raises(Unauthorized):
        await AUTH.authenticate("Bearer joinx", enrolment=True)
    assert authorize(BOOTSTRAP, Attributes(verb="get", resource="nodes", name="n1")) is not None


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


async def test_node_tokens_are_checked_on_every_request() -> None:
    """No cache of verified tokens: a token the verifier stops knowing (revoked, expired)
    fails on the next request, and the authenticator's repr shows no secret."""
    token = make_node_token("n7", "x")
    verifier = Verifier({token: "n7"})
    fresh = Authenticator(admin_token="admin-secret", join_secret="join", nodes=verifier)
    users = [await fresh.authenticate("Bearer " + token) for _ in range(3)]
    assert {u.name for u in users} == {"system:node:n7"}
    assert verifier.calls == [token] * 3
    verifier.live.clear()
    with pytest.raises(Unauthorized):
        await fresh.authenticate("Bearer " + token)
    assert "admin-secret" not in repr(fresh)
    assert "join" not in repr(fresh)
