"""`kubectl logs -f` streams through the server's proxy while the agent is still writing."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import aiohttp
from aiohttp import web

from nodeagent.api.bodies import Obj
from tests.integration.kubectl.conftest import KUBECTL
from tests.support.agenttls import guarded, serving_port
from tests.support.server import ServerInfo, running_server

NODE = "follow-node"


async def _api(srv: ServerInfo, method: str, path: str, body: Obj, ct: str) -> None:
    context = ssl.create_default_context(cafile=str(srv.ca_file))
    headers = {"Authorization": f"Bearer {srv.admin_token}", "Content-Type": ct}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http,
        http.request(method, srv.url + path, data=json.dumps(body), headers=headers) as response,
    ):
        assert response.status in (200, 201), await response.text()


async def test_logs_follow_streams_until_the_agent_ends(tmp_path: Path) -> None:
    """The first line reaches kubectl before the agent has finished the answer; kubectl
    ends when the agent's stream ends (the container stopped)."""
    release = asyncio.Event()
    queries: list[dict[str, str]] = []

    async def container_logs(request: web.Request) -> web.StreamResponse:
        queries.append(dict(request.query))
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(b"line 1\n")
        await release.wait()
        await response.write(b"line 2\n")
        await response.write_eof()
        return response

    agent = guarded(web.Application())
    agent.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    try:
        async with (
            running_server(tmp_path / "data") as srv,
            serving_port(srv, agent, node=NODE, state_dir=tmp_path / "agent") as port,
        ):
            await _api(
                srv, "POST", "/api/v1/nodes", {"metadata": {"name": NODE}}, "application/json"
            )
            status = {
                "status": {
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                }
            }
            await _api(
                srv, "PATCH", f"/api/v1/nodes/{NODE}/status", status, "application/merge-patch+json"
            )
            pod = {
                "metadata": {"name": "tail-me"},
                "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]},
            }
            await _api(srv, "POST", "/api/v1/namespaces/default/pods", pod, "application/json")
            proc = await asyncio.create_subprocess_exec(
                str(KUBECTL),
                "--kubeconfig",
                str(srv.kubeconfig),
                "--cache-dir",
                str(tmp_path / "cache"),
                "logs",
                "-f",
                "tail-me",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=srv.kubectl_env(),
            )
            assert proc.stdout is not None
            first = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
            assert first == b"line 1\n"
            assert proc.returncode is None  # still following
            release.set()
            rest, err = await asyncio.wait_for(proc.communicate(), timeout=30)
            assert proc.returncode == 0, err
            assert rest == b"line 2\n"
            assert queries[0].get("follow") == "true"
    finally:
        release.set()
