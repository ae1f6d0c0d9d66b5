"""`kubectl logs` and `kubectl exec`: the pods/log and pods/exec subresources, proxied to the
agent on the pod's node, as kube-apiserver proxies them to the kubelet.

The server finds the agent at the node's InternalIP (else Hostname) and
status.daemonEndpoints.kubeletEndpoint.Port, and authenticates with that node's bearer token
(derived from the join secret, nodeagent.api.tokens). The agent's side (nodeagent/agent/http.py):
`GET /containerLogs/{ns}/{pod}/{container}?tailLines=&follow=&...` (text) and
`POST /exec/{ns}/{pod}/{container}?command=...` (JSON `{"exitCode", "output"}`). exec is
served to kubectl over WebSocket (`v5.channel.k8s.io` / `v4.channel.k8s.io`): the output goes
out on the stdout channel and the exit status as a Status on the error channel. The agent runs
commands without a terminal or stdin, so `-i`/`-t` are accepted but stdin is not forwarded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from nodeagent.api.errors import (
    APIError,
    BadRequest,
    Forbidden,
    NotFound,
    ServiceUnavailable,
)
from nodeagent.api.tokens import node_bearer_token
from nodeagent.server.rest import keys

log = structlog.get_logger()
Obj = dict[str, Any]

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, ERROR = 1, 3
LOG_QUERY = ("tailLines", "follow", "timestamps", "previous", "sinceSeconds", "limitBytes")
AGENT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=None)


# ---------------------------------------------------------------- pure parts


def choose_container(pod: Obj, requested: str) -> str:
    """The container a logs/exec request means, as the API server chooses it."""
    meta = pod.get("metadata") or {}
    name = meta.get("name", "")
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    names += [c.get("name", "") for c in (pod.get("spec") or {}).get("initContainers") or []]
    if requested:
        if requested not in names:
            raise BadRequest(f"container {requested} is not valid for pod {name}")
        return requested
    default = (meta.get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION, "")
    if default in names:
        return str(default)
    main = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    if len(main) == 1:
        return str(main[0])
    raise BadRequest(
        f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]"
    )


def agent_address(node: Obj) -> str:
    """`host:port` of a node's agent, from its addresses and daemonEndpoints."""
    status = node.get("status") or {}
    name = (node.get("metadata") or {}).get("name", "")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname")
    if not port or not host:
        raise ServiceUnavailable(f"no agent endpoint is known for node {name}")
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def exit_status(exit_code: int, command: list[str]) -> Obj:
    """The Status kubectl reads from the error channel: Success, or NonZeroExitCode."""
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command "
            f"[{' '.join(command)}], exit code {exit_code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def frame(channel: int, data: bytes) -> bytes:
    """A channel.k8s.io message: one byte of channel number, then the data."""
    return bytes([channel]) + data


# ---------------------------------------------------------------- the shell


def _check_caller(request: web.Request) -> None:
    user = request.get(keys.USER)
    if user is not None and getattr(user, "node", None):
        raise Forbidden(f'User "{user.name}" cannot proxy to pods: nodes may not exec or read logs')


async def _target(request: web.Request) -> tuple[str, str, str, str]:
    """(agent address, node name, pod name, container) of a logs/exec request."""
    _check_caller(request)
    registry = request.app[keys.REGISTRY]
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    pod = await registry.get("pods", namespace, name)
    container = choose_container(pod, request.query.get("container", ""))
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise BadRequest(f"pod {name} does not have a host assigned")
    node = await registry.get("nodes", "", node_name)
    return agent_address(node), node_name, name, container


def _headers(request: web.Request, node_name: str) -> Mapping[str, str]:
    secret = request.app[keys.AUTHENTICATOR].join_secret
    return {"Authorization": f"Bearer {node_bearer_token(secret, node_name)}"}


def _agent_error(status: int, text: str) -> APIError:
    message = text.strip() or f"the agent answered {status}"
    if status == 404:
        return NotFound(message)
    if status in (400, 409):
        return BadRequest(message)
    return ServiceUnavailable(message)


async def pod_logs(request: web.Request) -> web.StreamResponse:
    """GET pods/{name}/log: stream the agent's answer through."""
    address, node_name, pod, container = await _target(request)
    namespace = request.match_info["namespace"]
    query = {k: request.query[k] for k in LOG_QUERY if k in request.query}
    url = f"http://{address}/containerLogs/{namespace}/{pod}/{container}"
    log.info("proxy_logs", node=node_name, pod=pod, container=container)
    try:
        async with (
            aiohttp.ClientSession(timeout=AGENT_TIMEOUT) as session,
            session.get(url, params=query, headers=_headers(request, node_name)) as upstream,
        ):
            if upstream.status != 200:
                raise _agent_error(upstream.status, await upstream.text())
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
    except aiohttp.ClientError as exc:
        raise ServiceUnavailable(f"cannot reach the agent of node {node_name}: {exc}") from exc


async def _run_on_agent(
    request: web.Request, address: str, node_name: str, pod: str, container: str
) -> tuple[int, bytes]:
    namespace = request.match_info["namespace"]
    command = request.query.getall("command", [])
    url = f"http://{address}/exec/{namespace}/{pod}/{container}"
    try:
        async with (
            aiohttp.ClientSession(timeout=AGENT_TIMEOUT) as session,
            session.post(
                url,
                params=[("command", c) for c in command],
                headers=_headers(request, node_name),
            ) as upstream,
        ):
            if upstream.status != 200:
                raise _agent_error(upstream.status, await upstream.text())
            result = json.loads(await upstream.read())
    except aiohttp.ClientError as exc:
        raise ServiceUnavailable(f"cannot reach the agent of node {node_name}: {exc}") from exc
    return int(result.get("exitCode", 1)), str(result.get("output", "")).encode()


async def pod_exec(request: web.Request) -> web.StreamResponse:
    """GET/POST pods/{name}/exec: a WebSocket session over the channel protocol."""
    command = request.query.getall("command", [])
    if not command:
        raise BadRequest("you must specify at least 1 command")
    address, node_name, pod, container = await _target(request)
    ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS)
    if not ws.can_prepare(request).ok:
        raise BadRequest("exec needs a WebSocket upgrade (v5.channel.k8s.io); SPDY is not served")
    await ws.prepare(request)
    log.info("proxy_exec", node=node_name, pod=pod, container=container, command=command)
    try:
        exit_code, output = await _run_on_agent(request, address, node_name, pod, container)
        if output:
            await ws.send_bytes(frame(STDOUT, output))
        status = exit_status(exit_code, command)
    except APIError as exc:
        status = exc.status_body()
    await ws.send_bytes(frame(ERROR, json.dumps(status).encode()))
    await ws.close()
    return ws


MOUNTED = web.AppKey("proxy_mounted", bool)


def add_routes(app: web.Application) -> None:
    """Serve pods/log and pods/exec on `app` (needs keys.REGISTRY and keys.AUTHENTICATOR).
    Idempotent: a second call adds nothing."""
    if app.get(MOUNTED):
        return
    app[MOUNTED] = True
    base = "/api/v1/namespaces/{namespace}/pods/{name}"
    app.router.add_get(f"{base}/log", pod_logs)
    app.router.add_route("GET", f"{base}/exec", pod_exec)
    app.router.add_route("POST", f"{base}/exec", pod_exec)
