"""The logs and exec endpoints the server's kubectl proxy uses, on the agent's TLS serving port,
for the server's kubelet-client certificate only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.support.podman import PodmanService
from tests.support.server import ServerInfo, running_server
from tests.support.wait import wait_for

from .conftest import Agent, joined_to, pod_yaml

pytestmark = pytest.mark.podman


EXEC_QUERY = [
    ("command", "/bin/sh"),
    ("command", "-c"),
    ("command", "echo hi; echo err >&2; exit 3"),
    ("stdout", "true"),
    ("stderr", "true"),
]


async def _exec(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> list[bytes]:
    """Every message of one exec over the agent's WebSocket, in order (stdout/stderr frames,
    the Status on channel 3 last)."""
    messages = []
    async with (
        asyncio.timeout(30),
        session.ws_connect(
            url, params=EXEC_QUERY, headers=headers, protocols=["v5.channel.k8s.io"]
        ) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        async for message in ws:
            messages.append(message.data)
    assert messages[-1][:1] == b"\x03", messages
    return messages


async def test_logs_and_exec_need_the_servers_client_certificate(
    make_agent: Callable[..., Agent], podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    """With the server's kubelet-client certificate: logs tail (and the previous attempt's) and
    exec over the channel protocol (stdout and stderr apart, the exit status last); without a
    client certificate: 401, whatever bearer token comes along (a node's, the admin's); plain
    HTTP to the serving port gets no answer; an unknown pod: a NotFound Status."""
    script = (
        "echo one; echo two $(cat /proc/sys/kernel/random/uuid); "
        "trap 'exit 0' TERM; while true; do sleep 0.2; done"
    )
    async with running_server(tmp_path / "server") as srv:
        agent = make_agent(**joined_to(srv, tmp_path))
        (agent.manifests / "talk.yaml").write_text(pod_yaml("talk", busybox, script=script))
        await agent.start()
        base = await agent.serving_url()
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=srv.kubelet_client_ssl())
            ) as session,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=srv.ssl_context())) as anon,
        ):
            await _refusals(srv, agent, base, anon)
            await _logs_and_exec(agent, base, session, podman_service)


async def _refusals(srv: ServerInfo, agent: Agent, base: str, anon: aiohttp.ClientSession) -> None:
    """No client certificate: 401 for logs and exec, with or without a bearer token; plain
    HTTP to the TLS port: no HTTP answer at all."""
    name = f"talk-{agent.settings.node_name}"
    tokens = [
        {},
        {"Authorization": "Bearer " + srv.node_token(agent.settings.node_name)},
        {"Authorization": "Bearer " + srv.admin_token},
    ]
    for headers in tokens:
        async with anon.get(f"{base}/containerLogs/default/{name}/main", headers=headers) as r:
            assert (r.status, await r.text()) == (
                401,
                "a client certificate is required: the server's kubelet client\n",
            )
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await _exec(anon, f"{base}/exec/default/{name}/main", headers)
        assert refused.value.status == 401
    plain = base.replace("https://", "http://")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"{plain}/containerLogs/default/{name}/main") as r:
                raise AssertionError(f"plain HTTP answered {r.status}")


async def _logs_and_exec(
    agent: Agent, base: str, session: aiohttp.ClientSession, podman_service: PodmanService
) -> None:
    name = f"talk-{agent.settings.node_name}"

    async def logs() -> str | None:
        url = f"{base}/containerLogs/default/{name}/main?tailLines=1"
        async with session.get(url) as resp:
            text = await resp.text()
            return text if resp.status == 200 and "two" in text else None

    text = await wait_for(logs, timeout=30, message="the container's last log line")
    assert "one" not in text
    url = f"{base}/exec/default/{name}/main"
    messages = await _exec(session, url)
    assert sorted(messages[:-1]) == [b"\x01hi\n", b"\x02err\n"]  # two pipes: any order
    status = json.loads(messages[-1][1:])
    assert (status["reason"], status["details"]["causes"][0]["message"]) == (
        "NonZeroExitCode",
        "3",
    )
    messages = await _exec(session, url.replace(name, "nope"))
    status = json.loads(messages[-1][1:])
    assert (status["reason"], status["code"]) == ("NotFound", 404)
    assert "pod default/nope is not on this node" in status["message"]
    async with session.get(f"{base}/containerLogs/default/nope/main") as resp:
        assert resp.status == 404
    url = f"{base}/containerLogs/default/{name}/main?previous=true"
    async with session.get(url) as resp:
        assert resp.status == 400  # no previous attempt yet: kubelet's words
        assert await resp.text() == (
            f'previous terminated container "main" in pod "{name}" not found\n'
        )

    pod = await agent.pod("talk")
    assert pod is not None
    podman_service.podman("kill", "-s", "KILL", pod["containers"][0]["id"])

    async def restarted() -> bool:
        p = await agent.pod("talk")
        return bool(p and p["restarts"] == 1 and p["containers"][0]["state"] == "running")

    await wait_for(restarted, timeout=30, message="talk restarted")
    async with session.get(url) as resp:
        assert resp.status == 200
        previous = await resp.text()
    assert previous.splitlines()[-1] == text.strip()
    current = await wait_for(logs, timeout=10, message="the new attempt's log")
    assert current.strip() != text.strip()


async def test_follow_streams_new_lines_until_the_client_leaves(
    make_agent: Callable[..., Agent], busybox: str, tmp_path: Path
) -> None:
    """follow=true keeps the response open and sends each new line as the container writes it;
    limitBytes ends a followed stream too."""
    script = "i=0; trap 'exit 0' TERM; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"
    async with running_server(tmp_path / "server") as srv:
        agent = make_agent(**joined_to(srv, tmp_path))
        (agent.manifests / "count.yaml").write_text(pod_yaml("count", busybox, script=script))
        await agent.start()
        base = await agent.serving_url()
        url = f"{base}/containerLogs/default/count-{agent.settings.node_name}/main"
        connector = aiohttp.TCPConnector(ssl=srv.kubelet_client_ssl())
        async with aiohttp.ClientSession(connector=connector) as session:

            async def started() -> bool:
                async with session.get(url) as resp:
                    return resp.status == 200 and b"line" in await resp.read()

            await wait_for(started, timeout=30, message="the counter's first line")
            async with asyncio.timeout(30), session.get(url + "?follow=true&tailLines=1") as resp:
                assert resp.status == 200
                numbers = [int((await resp.content.readline()).split()[1]) for _ in range(4)]
            assert numbers == list(range(numbers[0], numbers[0] + 4))
            async with asyncio.timeout(30), session.get(url + "?follow=true&limitBytes=8") as resp:
                assert await resp.read() == b"line 1\nl"
