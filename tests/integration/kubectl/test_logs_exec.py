"""kubectl logs and exec reach a container through the server's proxy and the node's agent.

The server is real (in this event loop, HTTPS), the agent's serving endpoints are the real ones
(nodeagent.agent.http) on its real TLS serving port (its certificate from the server) over an
in-memory runtime, and kubectl is the real binary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from nodeagent.agent.http import AgentMetrics, make_serving_app
from nodeagent.agent.sources.update import SourceName
from nodeagent.agent.state import AgentState, PodRecord
from nodeagent.api.bodies import Obj
from nodeagent.runtime.fake import FakeRuntime
from nodeagent.runtime.protocol import ExecResult, PodContext
from tests.integration.kubectl.conftest import KUBECTL
from tests.support.agenttls import serving_port
from tests.support.server import ServerInfo, running_server

NODE = "proxy-node"
LOGS = b"starting\nlistening on :24224\nflushed 3 chunks\n"


@dataclass(kw_only=True)
class Setup:
    server: ServerInfo
    runtime: FakeRuntime
    cache: Path


async def _api(
    srv: ServerInfo, method: str, path: str, body: Obj, ct: str = "application/json"
) -> Obj:
    context = ssl.create_default_context(cafile=str(srv.ca_file))
    headers = {"Authorization": f"Bearer {srv.admin_token}", "Content-Type": ct}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http,
        http.request(method, srv.url + path, data=json.dumps(body), headers=headers) as response,
    ):
        reply: Obj = await response.json()
        assert response.status in (200, 201), reply
        return reply


def _exec_handler(container_id: str, command: Sequence[str]) -> ExecResult:
    if list(command[:1]) == ["fail"]:
        return ExecResult(exit_code=3, output=b"failing on purpose\n")
    return ExecResult(exit_code=0, output=" ".join(command[1:]).encode() + b"\n")


@contextlib.asynccontextmanager
async def _setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with running_server(tmp_path / "data") as srv:
        runtime = FakeRuntime(exec_handler=_exec_handler)
        state = AgentState(node_name=NODE)
        agent = make_serving_app(state=state, runtime_of=lambda: runtime, metrics_=AgentMetrics())
        async with serving_port(srv, agent, node=NODE, state_dir=tmp_path / "agent") as port:
            await _api(srv, "POST", "/api/v1/nodes", {"metadata": {"name": NODE}})
            status = {
                "status": {
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                }
            }
            await _api(
                srv, "PATCH", f"/api/v1/nodes/{NODE}/status", status, "application/merge-patch+json"
            )
            pod = await _api(
                srv,
                "POST",
                "/api/v1/namespaces/default/pods",
                {
                    "metadata": {"name": "fluentd-x1"},
                    "spec": {
                        "nodeName": NODE,
                        "containers": [{"name": "fluentd", "image": "busybox"}],
                    },
                },
            )
            ctx = PodContext(
                node_name=NODE,
                host_ip="127.0.0.1",
                source="api",
                spec_hash="h",
                volume_dir=str(tmp_path),
            )
            container = pod["spec"]["containers"][0]
            cid, _ = await runtime.create_container(pod, container, ctx, attempt=0, is_init=False)
            await runtime.start_container(cid)
            runtime.logs_of[cid] = LOGS
            state.pods[pod["metadata"]["uid"]] = PodRecord(
                pod=pod, source=SourceName.API, status={}, container_ids={"fluentd": cid}
            )
            yield Setup(server=srv, runtime=runtime, cache=tmp_path / "cache")


async def _kubectl(setup: Setup, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL),
        "--kubeconfig",
        str(setup.server.kubeconfig),
        "--cache-dir",
        str(setup.cache),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=setup.server.kubectl_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_logs_through_the_agent(tmp_path: Path) -> None:
    """kubectl logs prints the container's log; --tail keeps the last lines."""
    async with _setup(tmp_path) as setup:
        rc, out, err = await _kubectl(setup, "logs", "fluentd-x1")
        assert rc == 0, err
        assert out.encode() == LOGS
        rc, out, err = await _kubectl(setup, "logs", "fluentd-x1", "--tail=1", "-c", "fluentd")
        assert rc == 0, err
        assert out == "flushed 3 chunks\n"
        rc, out, err = await _kubectl(setup, "logs", "fluentd-x1", "-c", "nosuch")
        assert rc == 1
        assert "container nosuch is not valid for pod fluentd-x1" in err


async def test_exec_through_the_agent(tmp_path: Path) -> None:
    """kubectl exec runs the command and exits with its exit code."""
    async with _setup(tmp_path) as setup:
        rc, out, err = await _kubectl(setup, "exec", "fluentd-x1", "--", "echo", "hello", "fleet")
        assert rc == 0, err
        assert out == "hello fleet\n"
        rc, out, err = await _kubectl(setup, "exec", "fluentd-x1", "--", "fail")
        assert rc == 3
        assert out == "failing on purpose\n"
        assert "command terminated with exit code 3" in err
