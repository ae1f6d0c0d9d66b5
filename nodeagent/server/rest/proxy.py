"""`kubectl logs`, `exec` and `attach`: the pods/log, pods/exec and pods/attach subresources,
proxied to the agent on the pod's node, as kube-apiserver proxies them to the kubelet.

The server finds the agent at the node's InternalIP (else Hostname) and
status.daemonEndpoints.kubeletEndpoint.Port (0 or absent: the agent has no serving
certificate yet, 503), and speaks TLS to it as kube-apiserver speaks to the kubelet: it
presents its kubelet-client certificate (app[KUBELET_CLIENT], server/tls.py), verifies the
agent's chain against the fleet CA, and requires the certificate to be the pod's node's own
(CN system:node:<node>, serverAuth): not a hostname check, since a node may claim any address,
so node-a's agent cannot stand in for node-b's. The check runs inside the TLS handshake, before
a byte of the request is sent. The agent's side (nodeagent/agent/http.py):
`GET /containerLogs/{ns}/{pod}/{container}?tailLines=&follow=&timestamps=&sinceSeconds=&...`
(text, streamed on), `/exec/{ns}/{pod}/{container}?command=...&stdin=&tty=` and
`/attach/{ns}/{pod}/{container}?stdin=&tty=`, WebSockets in kubectl's own channel protocol
(nodeagent.api.remotecommand), which the server splices to kubectl's WebSocket message for
message, as kube-apiserver relays the kubelet's stream.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import structlog
from aiohttp import web

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import (
    APIError,
    BadRequest,
    FieldError,
    Invalid,
    NotFound,
    ServiceUnavailable,
)
from nodeagent.api.remotecommand import (
    ERROR,
    PROTOCOLS,
    exec_options,
    frame,
    query_bool,
)
from nodeagent.api.remotecommand import exit_status as exit_status  # re-exported
from nodeagent.server.auth import Attributes, authorize
from nodeagent.server.certsigner import serving_problem
from nodeagent.server.rest import keys
from nodeagent.server.tls import KubeletClientFiles

log = structlog.get_logger()
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
EXEC_PROTOCOLS = PROTOCOLS
EXEC_MAX_MESSAGE = 1 << 20  # kubectl sends stdin in 32 KiB messages
EXEC_HEARTBEAT = 30.0  # seconds between pings to the agent; no pong in half of it ends exec
LOG_QUERY = (
    "tailLines",
    "follow",
    "timestamps",
    "previous",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
)
AGENT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=None)
KUBELET_CLIENT = web.AppKey("kubelet_client", KubeletClientFiles)


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
    if not port:
        raise ServiceUnavailable(
            f"no agent endpoint is known for node {name}: its agent serves no logs/exec/attach "
            "port yet (no serving certificate; the agent's log says why)"
        )
    if not host:
        raise ServiceUnavailable(f"no address is known for node {name}")
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


# ---------------------------------------------------------------- the shell


def _check_caller(request: web.Request) -> None:
    """The authorizer's answer for pods/log, pods/exec or pods/attach (POST is create, GET
    get); a node is refused all three, as Kubernetes' node authorizer refuses them."""
    user = request.get(keys.USER)
    if user is None:
        return
    denied = authorize(
        user,
        Attributes(
            verb="create" if request.method == "POST" else "get",
            resource="pods",
            subresource=request.path.rstrip("/").rsplit("/", 1)[-1],
            namespace=request.match_info["namespace"],
            name=request.match_info["name"],
        ),
        request.app[keys.RBAC].policy,
    )
    if denied is not None:
        raise denied


async def _target(request: web.Request) -> tuple[str, str, str, str]:
    """(agent address, node name, pod name, container) of a logs/exec/attach request."""
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


class NotTheNode(ssl.SSLCertVerificationError):
    """The agent's certificate is valid but not the pod's node's serving certificate."""


def _node_bound(node_name: str) -> type[ssl.SSLObject]:
    """An SSLObject class whose handshake also fails unless the peer's (already verified)
    certificate is `node_name`'s serving certificate."""

    class NodeSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            super().do_handshake()
            der = self.getpeercert(binary_form=True)
            problem = (
                "the agent presented no certificate"
                if der is None
                else serving_problem(der, node_name)
            )
            if problem:
                error = NotTheNode(problem)
                error.verify_message = problem  # where a chain failure's reason is, too
                raise error

    return NodeSSLObject


def _agent_ssl(request: web.Request, node_name: str) -> ssl.SSLContext:
    """The TLS client context for one connection to `node_name`'s agent."""
    files = request.app.get(KUBELET_CLIENT)
    if files is None:
        raise ServiceUnavailable("this server has no client identity for agents")
    ctx = files.context()
    ctx.sslobject_class = _node_bound(node_name)
    return ctx


def _unreachable(node_name: str, address: str, exc: aiohttp.ClientError) -> ServiceUnavailable:
    """The 503 for an agent that cannot be reached, or failed to prove it is the node's."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        why = exc.certificate_error
        reason = getattr(why, "verify_message", "") or str(why)
        if isinstance(why, NotTheNode):
            return ServiceUnavailable(
                f"the agent at {address} is not node {node_name}'s: TLS verification failed: "
                f"{reason}"
            )
        return ServiceUnavailable(  # another CA, expired, not for serving
            f"the agent of node {node_name} at {address} failed TLS verification: {reason}"
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return ServiceUnavailable(
            f"TLS with the agent of node {node_name} at {address} failed: {exc}"
        )
    return ServiceUnavailable(f"cannot reach the agent of node {node_name}: {exc}")


def _agent_error(status: int, text: str) -> APIError:
    message = text.strip() or f"the agent answered {status}"
    if status == 404:
        return NotFound(message)
    if status in (400, 409):
        return BadRequest(message)
    return ServiceUnavailable(message)


def log_options_errors(query: Mapping[str, str]) -> list[FieldError]:
    """PURE: the API server's PodLogOptions checks on the parameters the agent will read."""
    errors = []
    for name in ("tailLines", "sinceSeconds", "limitBytes"):
        text = query.get(name)
        if text is None:
            continue
        least = 0 if name == "tailLines" else 1
        if not text.lstrip("-").isdigit() or int(text) < least:
            detail = (
                "must be greater than or equal to 0" if least == 0 else "must be greater than 0"
            )
            errors.append(FieldError(field=name, type="Invalid value", value=text, detail=detail))
    if "sinceSeconds" in query and "sinceTime" in query:
        errors.append(
            FieldError(
                field="sinceSeconds",
                type="Forbidden",
                detail="at most one of `sinceTime` or `sinceSeconds` may be specified",
                reason="FieldValueForbidden",
            )
        )
    return errors


async def pod_logs(request: web.Request) -> web.StreamResponse:
    """GET pods/{name}/log: stream the agent's answer through."""
    if errors := log_options_errors(request.query):
        name = request.match_info["name"]
        message = f'PodLogOptions "{name}" is invalid: ' + ", ".join(map(str, errors))
        raise Invalid(message, kind="PodLogOptions", name=name, causes=errors)
    address, node_name, pod, container = await _target(request)
    namespace = request.match_info["namespace"]
    query = {k: request.query[k] for k in LOG_QUERY if k in request.query}
    url = f"https://{address}/containerLogs/{namespace}/{pod}/{container}"
    log.info("proxy_logs", node=node_name, pod=pod, container=container)
    context = _agent_ssl(request, node_name)
    try:
        async with (
            aiohttp.ClientSession(timeout=AGENT_TIMEOUT) as session,
            session.get(url, params=query, ssl=context) as upstream,
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
        raise _unreachable(node_name, address, exc) from exc


async def pod_exec(request: web.Request) -> web.StreamResponse:
    """GET/POST pods/{name}/exec: kubectl's WebSocket spliced to the agent's, message for
    message, as kube-apiserver relays the kubelet's exec stream (the agent speaks the channel
    protocol itself). A failure to reach the agent is a Status on the error channel."""
    options = exec_options(request.query, request.query.getall("command", []))
    if problem := options.problem():
        raise BadRequest(problem)
    return await _relay_stream(request, "exec", tty=options.tty)


async def pod_attach(request: web.Request) -> web.StreamResponse:
    """GET/POST pods/{name}/attach: the container's main process, relayed like exec to the
    agent's /attach (kube-apiserver's AttachLocation: the same container choice and node
    lookup as exec; the agent decides stdin and the terminal from the container's spec)."""
    if problem := exec_options(request.query, ()).streams_problem():
        raise BadRequest(problem)
    return await _relay_stream(request, "attach", tty=query_bool(request.query.get("tty")))


async def _relay_stream(request: web.Request, kind: str, *, tty: bool) -> web.StreamResponse:
    """Open the agent's WebSocket for `kind` ("exec" or "attach") with kubectl's query and
    subprotocols, then splice the two."""
    address, node_name, pod, container = await _target(request)
    ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, max_msg_size=EXEC_MAX_MESSAGE)
    if not ws.can_prepare(request).ok:
        raise BadRequest(
            f"{kind} needs a WebSocket upgrade (v5.channel.k8s.io); SPDY is not served"
        )
    namespace = request.match_info["namespace"]
    url = f"https://{address}/{kind}/{namespace}/{pod}/{container}"
    log.info("proxy_stream", kind=kind, node=node_name, pod=pod, container=container, tty=tty)
    context = _agent_ssl(request, node_name)
    async with aiohttp.ClientSession(timeout=AGENT_TIMEOUT) as session:
        try:
            upstream = await session.ws_connect(
                url,
                protocols=_offered(request),
                params=list(request.query.items()),
                ssl=context,
                max_msg_size=EXEC_MAX_MESSAGE,
                heartbeat=EXEC_HEARTBEAT,  # a host that vanishes mid-stream ends kubectl's session
            )
        except aiohttp.WSServerHandshakeError as exc:
            text = f"the agent of node {node_name} refused {kind} (HTTP {exc.status})"
            failure = _agent_error(exc.status, text)
            return await _fail(request, ws, failure.status_body())
        except aiohttp.ClientError as exc:
            failure = _unreachable(node_name, address, exc)
            return await _fail(request, ws, failure.status_body())
        async with upstream:
            ws = web.WebSocketResponse(
                protocols=(upstream.protocol or EXEC_PROTOCOLS[0],),
                max_msg_size=EXEC_MAX_MESSAGE,
            )
            await ws.prepare(request)
            await _splice(ws, upstream)
    return ws


def _offered(request: web.Request) -> list[str]:
    """The client's subprotocols that we serve, in its order of preference."""
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    offered = [p.strip() for p in header.split(",")]
    return [p for p in offered if p in EXEC_PROTOCOLS] or list(EXEC_PROTOCOLS)


async def _fail(request: web.Request, ws: web.WebSocketResponse, status: Obj) -> web.StreamResponse:
    await ws.prepare(request)
    await ws.send_bytes(frame(ERROR, json.dumps(status).encode()))
    await ws.close()
    return ws


async def _splice(client: web.WebSocketResponse, agent: aiohttp.ClientWebSocketResponse) -> None:
    """Copy messages both ways until one side closes; then close the other."""
    to_agent = asyncio.create_task(_copy(client, agent.send_bytes), name="exec-to-agent")
    to_client = asyncio.create_task(_copy(agent, client.send_bytes), name="exec-to-client")
    try:
        await asyncio.wait({to_agent, to_client}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (to_agent, to_client):
            task.cancel()
        await asyncio.gather(to_agent, to_client, return_exceptions=True)
        await agent.close()
        await client.close()


async def _copy(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    send: Callable[[bytes], Awaitable[None]],
) -> None:
    async for message in source:
        if message.type is aiohttp.WSMsgType.BINARY:
            await send(message.data)
        elif message.type is aiohttp.WSMsgType.TEXT:
            # kubelet reads a text frame's bytes as it reads a binary one's; the Python client
            # sends stdin given as str that way ("\x00date\n")
            await send(message.data.encode())
        elif message.type is aiohttp.WSMsgType.ERROR:
            break


MOUNTED = web.AppKey("proxy_mounted", bool)


def add_routes(app: web.Application) -> None:
    """Serve pods/log, pods/exec and pods/attach on `app` (needs keys.REGISTRY and
    keys.AUTHENTICATOR). Idempotent: a second call adds nothing."""
    if app.get(MOUNTED):
        return
    app[MOUNTED] = True
    base = "/api/v1/namespaces/{namespace}/pods/{name}"
    app.router.add_get(f"{base}/log", pod_logs)
    app.router.add_route("GET", f"{base}/exec", pod_exec)
    app.router.add_route("POST", f"{base}/exec", pod_exec)
    app.router.add_route("GET", f"{base}/attach", pod_attach)
    app.router.add_route("POST", f"{base}/attach", pod_attach)
