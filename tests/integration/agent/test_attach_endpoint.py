"""The agent's /attach endpoint (the server's kubectl attach proxy): the container's main
process over the channel protocol on the TLS serving port, for the server's kubelet-client
certificate only, with kubelet's refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.support.server import ServerInfo, running_server
from tests.support.wait import wait_for

from .conftest import Agent, joined_to, pod_yaml

pytestmark = pytest.mark.podman

V5 = "v5.channel.k8s.io"


async def _status(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    """Read to the end of the session; the Status on the error channel, which is last."""
    messages = [m.data async for m in ws]
    assert messages, "no message before the close"
    assert messages[-1][:1] == b"\x03", messages
    status: dict[str, object] = json.loads(messages[-1][1:])
    return status


async def test_attach_endpoint(
    make_agent: Callable[..., Agent], busybox: str, tmp_path: Path
) -> None:
    """With the server's client certificate: stdin reaches a `cat` with stdin: true and its echo
    comes back; the end of a stdinOnce process's input ends it and the session with Success.
    Without a client certificate: 401 before the upgrade. After it, kubelet's refusals as
    Statuses: no stream asked, an unknown container, a container that is not running."""
    async with running_server(tmp_path / "server") as srv:
        agent = make_agent(**joined_to(srv, tmp_path))
        (agent.manifests / "reader.yaml").write_text(
            pod_yaml("reader", busybox, script="exec cat", stdin=True, stdinOnce=True)
        )
        (agent.manifests / "done.yaml").write_text(
            pod_yaml("done", busybox, script="true").replace(
                '"spec": {', '"spec": {"restartPolicy": "Never", '
            )
        )
        await agent.start()
        await _attach(agent, srv, await agent.serving_url())


async def _attach(agent: Agent, srv: ServerInfo, base: str) -> None:
    node = agent.settings.node_name
    query = {"stdin": "true", "stdout": "true", "stderr": "true"}

    async def phase_of(name: str, phase: str) -> bool:
        pod = await agent.pod(name)
        return bool(pod and pod["phase"] == phase)

    await wait_for(lambda: phase_of("reader", "Running"), timeout=60, message="reader runs")
    await wait_for(lambda: phase_of("done", "Succeeded"), timeout=60, message="done ends")
    url = f"{base}/attach/default/reader-{node}/main"
    anon = aiohttp.TCPConnector(ssl=srv.ssl_context())  # the CA trusted, no certificate
    async with aiohttp.ClientSession(connector=anon) as session, asyncio.timeout(60):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, params=query, protocols=[V5])
        assert refused.value.status == 401
    server = aiohttp.TCPConnector(ssl=srv.kubelet_client_ssl())
    async with aiohttp.ClientSession(connector=server) as session, asyncio.timeout(60):
        async with session.ws_connect(url, params=query, protocols=[V5]) as ws:
            await ws.send_bytes(b"\x00ping\n")
            echoed = await ws.receive()
            assert echoed.data == b"\x01ping\n"
            await ws.send_bytes(b"\xff\x00")  # v5: stdin closed -> cat reads EOF and ends
            assert await _status(ws) == {"metadata": {}, "status": "Success"}
        refusals = [
            (url, {}, 400, "you must specify at least 1 of stdin, stdout, stderr"),
            (url.replace("/main", "/nope"), query, 404, "container nope is not valid"),
            (
                f"{base}/attach/default/done-{node}/main",
                query,
                500,
                "error attaching to container: ",
            ),
        ]
        for target, params, code, words in refusals:
            async with session.ws_connect(target, params=params, protocols=[V5]) as ws:
                status = await _status(ws)
            assert status["code"] == code, status
            assert words in str(status["message"]), status
