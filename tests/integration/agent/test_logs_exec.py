"""The logs and exec endpoints the server's kubectl proxy uses, with node-token checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from nodeagent.api.tokens import node_bearer_token
from tests.support.podman import PodmanService
from tests.support.wait import wait_for

from .conftest import Agent, pod_yaml

pytestmark = pytest.mark.podman


EXEC_QUERY = [
    ("command", "/bin/sh"),
    ("command", "-c"),
    ("command", "echo hi; echo err >&2; exit 3"),
    ("stdout", "true"),
    ("stderr", "true"),
]


async def _exec(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> list[bytes]:
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


async def test_logs_and_exec_need_a_node_token(
    make_agent: Callable[..., Agent], podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    """With a fleet node token: logs tail (and the previous attempt's) and exec over the
    channel protocol (stdout and stderr apart, the exit status last); without a token: 401;
    a token of another secret: 403; an unknown pod: a NotFound Status."""
    secret = tmp_path / "secret"
    secret.write_text("fleet-secret\n")
    agent = make_agent(token_file=str(secret))
    script = (
        "echo one; echo two $(cat /proc/sys/kernel/random/uuid); "
        "trap 'exit 0' TERM; while true; do sleep 0.2; done"
    )
    (agent.manifests / "talk.yaml").write_text(pod_yaml("talk", busybox, script=script))
    await agent.start()
    name = f"talk-{agent.settings.node_name}"
    base = f"http://{agent.settings.listen}"
    good = {"Authorization": "Bearer " + node_bearer_token("fleet-secret", "some-node")}
    bad = {"Authorization": "Bearer " + node_bearer_token("other-secret", "some-node")}
    async with aiohttp.ClientSession() as session:

        async def logs() -> str | None:
            url = f"{base}/containerLogs/default/{name}/main?tailLines=1"
            async with session.get(url, headers=good) as resp:
                text = await resp.text()
                return text if resp.status == 200 and "two" in text else None

        text = await wait_for(logs, timeout=30, message="the container's last log line")
        assert "one" not in text
        url = f"{base}/exec/default/{name}/main"
        messages = await _exec(session, url, good)
        assert sorted(messages[:-1]) == [b"\x01hi\n", b"\x02err\n"]  # two pipes: any order
        status = json.loads(messages[-1][1:])
        assert (status["reason"], status["details"]["causes"][0]["message"]) == (
            "NonZeroExitCode",
            "3",
        )
        for headers, code in (({}, 401), (bad, 403)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await _exec(session, url, headers)
            assert refused.value.status == code
        messages = await _exec(session, url.replace(name, "nope"), good)
        status = json.loads(messages[-1][1:])
        assert (status["reason"], status["code"]) == ("NotFound", 404)
        assert "pod default/nope is not on this node" in status["message"]
        async with session.get(f"{base}/containerLogs/default/nope/main", headers=good) as resp:
            assert resp.status == 404
        url = f"{base}/containerLogs/default/{name}/main?previous=true"
        async with session.get(url, headers=good) as resp:
            assert resp.status == 400  # no previous attempt yet

        pod = await agent.pod("talk")
        assert pod is not None
        podman_service.podman("kill", "-s", "KILL", pod["containers"][0]["id"])

        async def restarted() -> bool:
            p = await agent.pod("talk")
            return bool(p and p["restarts"] == 1 and p["containers"][0]["state"] == "running")

        await wait_for(restarted, timeout=30, message="talk restarted")
        async with session.get(url, headers=good) as resp:
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
    secret = tmp_path / "secret"
    secret.write_text("fleet-secret\n")
    agent = make_agent(token_file=str(secret))
    token = {"Authorization": "Bearer " + node_bearer_token("fleet-secret", "some-node")}
    script = "i=0; trap 'exit 0' TERM; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"
    (agent.manifests / "count.yaml").write_text(pod_yaml("count", busybox, script=script))
    await agent.start()
    url = f"http://{agent.settings.listen}/containerLogs/default/count-{agent.settings.node_name}/main"
    async with aiohttp.ClientSession(headers=token) as session:

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
