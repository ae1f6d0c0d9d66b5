"""The agent's NodeCredential against a small scripted aiohttp server on loopback: what it does
with a 401, a bad enrolment reply, and a join secret it cannot read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nodeagent.agent.apiclient import ApiClient
from nodeagent.agent.credentials import Held, NodeCredential, save_held
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from nodeagent.api.tokens import Lifetime, make_node_token


@dataclass
class Script:
    """Enrolment hands out t1, t2, ...; GET /ok answers 200 to the live token only."""

    live: str = ""
    issued: int = 0
    enrol_reply: Obj | None = None  # a fixed reply instead of a token
    calls: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        self.calls.append(f"{request.method} {request.path} {auth}")
        if request.path == "/nodeagent.io/v1/enrol":
            if auth != "Bearer join":
                return web.json_response({"kind": "Status", "code": 401}, status=401)
            if self.enrol_reply is not None:
                return web.json_response(self.enrol_reply, status=201)
            self.issued += 1
            self.live = make_node_token("n1", f"t{self.issued}")
            status = {"token": self.live, "expirationSeconds": 3600}
            return web.json_response({"kind": "NodeCredential", "status": status}, status=201)
        if auth != f"Bearer {self.live}":
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        return web.json_response({"kind": "Ok"})


@pytest.fixture
async def scripted(tmp_path: Path) -> AsyncIterator[tuple[Script, ApiClient, NodeCredential]]:
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    credential = NodeCredential(node_name="n1", state_dir=str(tmp_path), join_secret=lambda: "join")
    client = ApiClient(server_url=str(server.make_url("")), token=credential)
    yield script, client, credential
    await client.close()
    await server.close()


async def test_the_first_request_enrols_and_a_401_enrols_once_more(
    scripted: tuple[Script, ApiClient, NodeCredential],
) -> None:
    """No stored token: enrol, then the request. The token revoked: the request's 401 enrols
    again with the join secret and the request is sent once more, with the new token."""
    script, client, credential = scripted
    assert (await client.get("/ok"))["kind"] == "Ok"
    assert script.issued == 1
    script.live = "revoked"
    assert (await client.get("/ok"))["kind"] == "Ok"
    assert script.issued == 2
    assert [c.split(" ", 2)[1] for c in script.calls] == [
        "/nodeagent.io/v1/enrol", "/ok", "/ok", "/nodeagent.io/v1/enrol", "/ok",
    ]  # fmt: skip
    assert credential.held is not None
    assert credential.held.token == script.live


async def test_a_bad_enrolment_reply_is_an_api_error(
    scripted: tuple[Script, ApiClient, NodeCredential],
) -> None:
    """A reply without a token, or with another node's, is an APIError (which every loop
    of the agent retries), never a crash."""
    script, client, _ = scripted
    script.enrol_reply = {"kind": "NodeCredential", "status": {}}
    with pytest.raises(errors.APIError, match=r"status\.token: missing"):
        await client.get("/ok")
    other = {"token": make_node_token("n2", "x"), "expirationSeconds": 60}
    script.enrol_reply = {"kind": "NodeCredential", "status": other}
    with pytest.raises(errors.APIError, match="another node"):
        await client.get("/ok")


async def test_no_join_secret_is_unauthorized(tmp_path: Path) -> None:
    """Without a join secret there is nothing to enrol with: 401, before any request."""
    credential = NodeCredential(node_name="n1", state_dir=str(tmp_path), join_secret=lambda: "")
    client = ApiClient(server_url="https://127.0.0.1:1", token=credential)
    try:
        with pytest.raises(errors.Unauthorized, match="--token-file"):
            await client.get("/ok")
    finally:
        await client.close()


async def test_a_token_that_expired_while_the_agent_was_off_is_not_sent(
    scripted: tuple[Script, ApiClient, NodeCredential], tmp_path: Path
) -> None:
    """A stored token past its lifetime (on this host's clock) is replaced by an enrolment
    before the first request; one still live is used as it is."""
    script, client, _ = scripted
    stale = make_node_token("n1", "old")
    save_held(
        str(tmp_path), Held(token=stale, lifetime=Lifetime(received_at=0, lifetime_seconds=10))
    )
    now = [100.0]
    credential = NodeCredential(
        node_name="n1", state_dir=str(tmp_path), join_secret=lambda: "join", clock=lambda: now[0]
    )
    assert credential.held is not None
    assert credential.held.token == stale
    assert await credential.token(client) == script.live
    assert script.calls == ["POST /nodeagent.io/v1/enrol Bearer join"]
    assert await credential.token(client) == script.live  # live now: no second enrolment
    assert script.issued == 1
