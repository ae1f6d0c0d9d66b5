"""An agent application on a real TLS serving port, for tests that build the agent's app
themselves (a fake runtime, a scripted handler): the port, its certificate from the server's
signer and the client-certificate check are the agent's own (nodeagent.agent.servingport).

    async with serving_port(srv, app, node="n1", state_dir=tmp_path / "n1") as port:
        ...  # the Node's daemonEndpoints.kubeletEndpoint.Port is `port`
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from nodeagent.agent.apiclient import ApiClient
from nodeagent.agent.authentication import kubelet_client_only
from nodeagent.agent.servingport import ServingPort
from nodeagent.agent.state import AgentState
from tests.support.server import ServerInfo
from tests.support.wait import wait_for


def guarded(app: web.Application) -> web.Application:
    """`app` behind the serving port's client check (for hand-made agent apps)."""
    app.middlewares.append(kubelet_client_only)
    return app


@contextlib.asynccontextmanager
async def serving_port(
    srv: ServerInfo, app: web.Application, *, node: str, state_dir: Path
) -> AsyncIterator[int]:
    """Serve `app` as `node`'s agent does on 127.0.0.1: ask `srv` for the serving certificate
    with the node's credentials, open the TLS port; yield the bound port."""
    state = AgentState(node_name=node)
    port = ServingPort(
        app=app,
        state=state,
        node_name=node,
        state_dir=str(state_dir),
        ca_file=str(srv.ca_file),
        host="127.0.0.1",
        port=0,
        names=["127.0.0.1"],
    )
    client = ApiClient(server_url=srv.url, token=srv.node_token(node), ca_file=str(srv.ca_file))
    task = asyncio.create_task(port.run(client))
    try:
        await wait_for(lambda: state.serving_port or None, timeout=20, message="serving port")
        yield state.serving_port
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()
