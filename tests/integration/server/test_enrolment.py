"""Enrolment and node credentials over HTTPS: the join secret only enrols, a node name is bound
to the host that enrolled it first, tokens rotate, and deleting a Node revokes its credential."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import parse_time
from nodeagent.api.tokens import make_node_token
from nodeagent.server import credentialrules
from nodeagent.server.credentials import sweep_orphans
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo, hmac_node_token, running_server
from tests.support.wait import wait_for

ENROL = "/nodeagent.io/v1/enrol"
ROTATE = "/nodeagent.io/v1/token"
NODES = "/api/v1/nodes"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def password() -> str:
    return secrets.token_urlsafe(32)


async def post(
    server: ServerInfo, path: str, token: str | None, body: Any = None
) -> tuple[int, Obj]:
    """POST with `token` ("admin" for the admin's, None for no Authorization header)."""
    async with server.session(token) as session:
        status, reply = await call(session, server, "POST", path, body if body is not None else {})
        return status, reply


async def enrol(server: ServerInfo, node: str, pw: str) -> tuple[int, Obj]:
    return await post(server, ENROL, server.join_secret, {"nodeName": node, "nodePassword": pw})


async def enrolled_token(server: ServerInfo, node: str, pw: str) -> str:
    status, reply = await enrol(server, node, pw)
    assert status == 201, reply
    return str(reply["status"]["token"])


async def whoami(server: ServerInfo, token: str) -> tuple[int, Obj]:
    return await post(server, WHOAMI, token)


async def test_enrolment_gives_a_node_its_own_credential(server: ServerInfo) -> None:
    """The reply is a token for system:node:<name> with its expiry; the token works as that
    node and is stored only as a hash."""
    before = time.time()
    status, reply = await enrol(server, "n1", password())
    assert status == 201, reply
    assert reply["kind"] == "NodeCredential"
    st = reply["status"]
    assert st["user"] == {
        "username": "system:node:n1",
        "groups": ["system:nodes", "system:authenticated"],
    }
    assert st["expirationSeconds"] == 30 * 24 * 3600
    assert st["token"].startswith("nodecred.n1.")
    status, me = await whoami(server, st["token"])
    assert status == 201
    assert me["status"]["userInfo"]["username"] == "system:node:n1"
    expires = parse_time(st["expirationTimestamp"])
    assert before + 30 * 24 * 3600 - 1 <= expires <= time.time() + 30 * 24 * 3600
    assert server.registry is not None
    record = await server.registry.store.get(credentialrules.RESOURCE, "", "n1")
    assert st["token"] not in str(record)


async def test_another_host_cannot_take_or_forge_an_enrolled_node(server: ServerInfo) -> None:
    """A second host with the join secret but another node password gets 403 naming the node
    and why; a forged token or one of the old HMAC scheme for that node is 401."""
    mine = await enrolled_token(server, "node-b", password())
    status, reply = await enrol(server, "node-b", password())
    assert (status, reply["reason"]) == (403, "Forbidden"), reply
    assert reply["message"].startswith('node password rejected for node "node-b": ')
    assert "kubectl delete node node-b" in reply["message"]
    forged = make_node_token("node-b", secrets.token_urlsafe(32))
    old_scheme = hmac_node_token(server.join_secret, "node-b")
    for token in (forged, old_scheme, mine + "x", server.join_secret):
        status, reply = await whoami(server, token)
        assert (status, reply["reason"]) == (401, "Unauthorized"), token[:10]
    status, _ = await whoami(server, mine)
    assert status == 201


async def test_the_same_host_enrols_again(server: ServerInfo) -> None:
    """With its own node password a host re-enrols (lost token, expired, revoked)."""
    pw = password()
    first = await enrolled_token(server, "n1", pw)
    second = await enrolled_token(server, "n1", pw)
    assert first != second
    for token in (first, second):
        assert (await whoami(server, token))[0] == 201


@pytest.mark.parametrize(
    ("path", "who", "status", "reason"),
    [
        (ENROL, None, 401, "Unauthorized"),
        (ENROL, "wrong-join-secret", 401, "Unauthorized"),
        (ENROL, "node", 403, "Forbidden"),
        (ENROL, "admin", 403, "Forbidden"),
        (ROTATE, None, 401, "Unauthorized"),
        (ROTATE, "wrong-join-secret", 401, "Unauthorized"),
        (ROTATE, "join", 401, "Unauthorized"),
        (ROTATE, "admin", 403, "Forbidden"),
        ("/nodeagent.io/v1/nodes/n1/token", None, 401, "Unauthorized"),
        ("/nodeagent.io/v1/nodes/n1/token", "join", 401, "Unauthorized"),
        ("/nodeagent.io/v1/nodes/n1/token", "node", 403, "Forbidden"),
    ],
)
async def test_who_may_call_the_credential_endpoints(
    server: ServerInfo, path: str, who: str | None, status: int, reason: str
) -> None:
    """Enrolment takes only the join secret, rotation only a node's own token, issuing only
    the admin's; a 403 names the user."""
    tokens = {
        None: None,
        "wrong-join-secret": server.join_secret + "x",
        "join": server.join_secret,
        "admin": "admin",
        "node": await enrolled_token(server, "n2", password()),
    }
    got, reply = await post(
        server, path, tokens[who], {"nodeName": "n1", "nodePassword": password()}
    )
    assert (got, reply["reason"]) == (status, reason), reply
    if status == 403:
        user = "admin" if who == "admin" else "system:node:n2"
        assert reply["message"].startswith(f'User "{user}" cannot ')


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "nodeName"),
        ({"nodeName": "N_1", "nodePassword": "x" * 40}, 422, "nodeName"),
        ({"nodeName": 7, "nodePassword": "x" * 40}, 422, "nodeName"),
        ({"nodeName": "n1", "nodePassword": "short"}, 422, "nodePassword"),
        ({"nodeName": "n1", "nodePassword": ["x" * 40]}, 422, "nodePassword"),
        ([], 400, None),
        ({"nodeName": "n1", "nodePassword": "x" * 5000}, 413, None),
    ],
    ids=["empty", "bad-name", "name-not-string", "short-password", "password-list", "list", "big"],
)
async def test_a_bad_enrolment_names_the_field(
    server: ServerInfo, body: Any, status: int, field: str | None
) -> None:
    got, reply = await post(server, ENROL, server.join_secret, body)
    assert got == status, reply
    if field is not None:
        assert field in {c["field"] for c in reply["details"]["causes"]}
        assert "x" * 40 not in reply["message"]  # a password never comes back


async def test_deleting_a_node_revokes_its_credential(server: ServerInfo) -> None:
    """kubectl delete node X: X's next request is 401 (a dry run revokes nothing), and the
    name is free again: another host may enrol under it."""
    token = await enrolled_token(server, "n1", password())
    async with server.session(token) as n1:
        status, _ = await call(n1, server, "POST", NODES, {"metadata": {"name": "n1"}})
        assert status == 201
    async with server.session() as admin:
        status, _ = await call(admin, server, "DELETE", f"{NODES}/n1?dryRun=All")
        assert status == 200
        assert (await whoami(server, token))[0] == 201
        status, _ = await call(admin, server, "DELETE", f"{NODES}/n1")
        assert status == 200
    status, reply = await whoami(server, token)
    assert (status, reply["reason"]) == (401, "Unauthorized")
    other = await enrolled_token(server, "n1", password())
    assert (await whoami(server, other))[0] == 201


async def test_rotation_gives_a_new_token_and_the_old_one_overlaps(tmp_path: Path) -> None:
    """POST /nodeagent.io/v1/token with the node's token: a new one for the same node; the
    used one stays valid a short while (here its own expiry, the TTL being 3 s), then 401."""
    async with running_server(
        tmp_path / "data", run_controllers=False, node_token_ttl_seconds=3.0
    ) as srv:
        old = await enrolled_token(srv, "n1", password())
        status, reply = await post(srv, ROTATE, old)
        assert status == 201, reply
        assert reply["status"]["expirationSeconds"] == 3
        new = reply["status"]["token"]
        assert new != old
        assert (await whoami(srv, old))[0] == 201
        assert (await whoami(srv, new))[0] == 201

        async def old_refused() -> bool:
            return (await whoami(srv, old))[0] == 401

        await wait_for(old_refused, timeout=10, interval=0.2, message="old token expired")


async def test_credentials_survive_a_restart(tmp_path: Path) -> None:
    """Records are in the store: after a restart the token still works, the binding holds."""
    pw = password()
    async with running_server(tmp_path / "data", run_controllers=False) as srv:
        token = await enrolled_token(srv, "n1", pw)
    async with running_server(tmp_path / "data", run_controllers=False) as srv:
        assert (await whoami(srv, token))[0] == 201
        assert (await enrol(srv, "n1", password()))[0] == 403
        assert (await enrol(srv, "n1", pw))[0] == 201


async def test_a_minted_token_is_usable_at_once(server: ServerInfo) -> None:
    """The in-process handle's sync mint (tests' node_token): the first request with it
    waits for its record."""
    async with server.session(server.node_token("n3")) as n3:
        status, _ = await call(n3, server, "POST", NODES, {"metadata": {"name": "n3"}})
        assert status == 201


async def test_enrolment_is_a_post(server: ServerInfo) -> None:
    """GET on the enrolment path is 405, as a Status."""
    async with server.session(server.join_secret) as session:
        status, reply = await call(session, server, "GET", ENROL)
    assert (status, reply["kind"]) == (405, "Status")


async def test_a_name_enrolled_but_never_registered_is_freed_after_a_while(
    server: ServerInfo,
) -> None:
    """A record whose Node never came is swept once it is ORPHAN_AGE_SECONDS old (k3s's orphan
    node-password secrets): its token is 401 and another host may take the name. A record
    with a Node stays."""
    lonely = await enrolled_token(server, "lonely", password())
    known = await enrolled_token(server, "known", password())
    async with server.session(known) as session:
        status, _ = await call(session, server, "POST", NODES, {"metadata": {"name": "known"}})
        assert status == 201
    assert server.registry is not None
    store = server.registry.store
    assert await sweep_orphans(store, now=time.time() + 10) == []
    later = time.time() + credentialrules.ORPHAN_AGE_SECONDS + 1
    assert await sweep_orphans(store, now=later) == ["lonely"]
    assert (await whoami(server, lonely))[0] == 401
    assert (await whoami(server, known))[0] == 201
    assert (await enrol(server, "lonely", password()))[0] == 201
