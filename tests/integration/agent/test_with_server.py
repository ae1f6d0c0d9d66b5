"""The agent with a real server: pods bound to the node run, report status, and are deleted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService
from tests.support.server import running_server
from tests.support.wait import wait_for

from .conftest import Agent, pod_yaml

pytestmark = pytest.mark.podman


async def test_server_pod_runs_reports_and_deletes(
    make_agent: Callable[..., Agent], podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    """A pod created on the server for this node runs; its status reaches the server; a
    static pod shows as a mirror pod; deleting the pod stops its container and removes it."""
    async with running_server(tmp_path / "server") as srv:
        secret = tmp_path / "join-secret"
        secret.write_text(srv.join_secret)
        agent = make_agent(server_url=srv.url, token_file=str(secret), ca_file=str(srv.ca_file))
        node = agent.settings.node_name
        (agent.manifests / "static.yaml").write_text(pod_yaml("static", busybox))
        await agent.start()
        pod = json.loads(pod_yaml("api-pod", busybox))
        pod["metadata"]["namespace"] = "default"
        pod["spec"]["nodeName"] = node
        pods_url = f"{srv.url}/api/v1/namespaces/default/pods"
        async with srv.session() as http:
            async with http.post(pods_url, json=pod) as resp:
                assert resp.status == 201, await resp.text()

            async def server_phase(name: str) -> str | None:
                async with http.get(f"{pods_url}/{name}") as resp:
                    if resp.status != 200:
                        return None
                    body: Obj = await resp.json()
                    return str(body.get("status", {}).get("phase") or "")

            async def running_on_server(name: str) -> bool:
                return await server_phase(name) == "Running"

            await wait_for(
                lambda: running_on_server("api-pod"), timeout=40, message="api-pod Running"
            )
            await wait_for(
                lambda: running_on_server(f"static-{node}"), timeout=40, message="mirror pod"
            )
            local = await agent.pod_named("api-pod")
            assert local is not None
            assert local["source"] == "api"
            cid = local["containers"][0]["id"]

            async with http.delete(f"{pods_url}/api-pod", json={"gracePeriodSeconds": 1}) as resp:
                assert resp.status == 200, await resp.text()

            def container_gone() -> bool:
                out = podman_service.podman("inspect", cid, check=False)
                return out.returncode != 0

            await wait_for(container_gone, timeout=40, message="the deleted pod's container goes")

            async def gone_from_server() -> bool:
                async with http.get(f"{pods_url}/api-pod") as resp:
                    return resp.status == 404

            await wait_for(gone_from_server, timeout=40, message="the pod leaves the server")
        await agent.stop()
