"""The agent's two HTTP applications, as kubelet has its healthz port and its 10250.

`make_app`: the plain-HTTP `listen` port: /healthz and /readyz for anyone, /pods and /metrics
for callers on this host (loopback) only. `make_serving_app`: the TLS serving port
(servingport.py): /containerLogs, /exec and /attach (WebSockets, execstream.py) for the
server's kubectl logs/exec/attach proxy, and /pods and /metrics, each only for a client
certificate of the fleet CA that is the server's kubelet client (nodeagent.api.certs): 401
without a certificate, 403 with any other (a node's, for one). No bearer token is accepted on
either port.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import prometheus_client
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from nodeagent.agent.state import AgentState
from nodeagent.api.certs import claims_of_der, kubelet_client_problem
from nodeagent.api.timefmt import parse_time
from nodeagent.runtime.protocol import ExecSession, Runtime, RuntimeError_

# The exec/attach code (execstream, remotecommand) is imported by the first exec or attach:
# an idle agent never needs it (resident memory on every host, docs/performance.md section 2).
if TYPE_CHECKING:
    from nodeagent.api import remotecommand as rc

log = structlog.get_logger()

Obj = dict[str, Any]
STATE = web.AppKey("state", AgentState)
RuntimeOf = Callable[[], Runtime | None]
RUNTIME_OF: web.AppKey[RuntimeOf] = web.AppKey("runtime_of")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOCAL_PATHS = frozenset({"/pods", "/metrics"})  # on the plain port: this host's callers only
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
EXEC_MAX_MESSAGE = 1 << 20  # kubectl sends stdin in 32 KiB messages
EXEC_HEARTBEAT = 30.0  # pings to the server: a lost server ends the exec relay (and detaches)


class AgentMetrics:
    """The agent's Prometheus metrics, in a registry of its own (several agents per process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.pods = Gauge("nodeagent_pods", "Pods on this node by phase", ["phase"], registry=r)
        self.restarts = Gauge(
            "nodeagent_container_restarts", "Sum of container restart counts", registry=r
        )
        self.manifest_errors = Gauge(
            "nodeagent_manifest_errors", "Manifests currently rejected", registry=r
        )
        self.runtime_up = Gauge("nodeagent_runtime_up", "1 when the engine answers", registry=r)
        self.reconcile = Histogram(
            "nodeagent_reconcile_duration_seconds", "Time of one reconcile pass", registry=r
        )
        self.probe_failures = Counter("nodeagent_probe_failures", "Failed probes", registry=r)

    def refresh(self, state: AgentState) -> None:
        counts = dict.fromkeys(PHASES, 0)
        restarts = 0
        for record in state.pods.values():
            phase = str(record.status.get("phase", "Unknown"))
            counts[phase] = counts.get(phase, 0) + 1
            for s in record.status.get("containerStatuses") or []:
                restarts += int(s.get("restartCount", 0))
        for phase, n in counts.items():
            self.pods.labels(phase=phase).set(n)
        self.restarts.set(restarts)
        self.manifest_errors.set(len(state.rejected))
        self.runtime_up.set(0 if state.runtime_error else 1)


METRICS = web.AppKey("metrics", AgentMetrics)


def pods_view(state: AgentState) -> Obj:
    """The /pods document: this node's pods and the manifests rejected."""
    pods = []
    for uid, record in sorted(state.pods.items(), key=lambda kv: kv[1].pod["metadata"]["name"]):
        meta, status = record.pod["metadata"], record.status
        statuses = (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        )
        containers = []
        for s in statuses:
            state_name, raw = next(iter(s["state"].items()), ("waiting", {}))
            detail: Obj = raw or {}
            containers.append(
                {
                    "name": s["name"],
                    "id": record.container_ids.get(s["name"], ""),
                    "state": state_name,
                    "reason": detail.get("reason", ""),
                    "message": detail.get("message", ""),
                    "ready": s["ready"],
                    "restartCount": s["restartCount"],
                    "startedAt": detail.get("startedAt", ""),
                }
            )
        pods.append(
            {
                "name": meta["name"],
                "namespace": meta.get("namespace", "default"),
                "uid": uid,
                "source": record.source.value,
                "phase": status.get("phase"),
                "ready": all(c["ready"] for c in containers if c["name"] in _app_names(record.pod)),
                "restarts": sum(c["restartCount"] for c in containers),
                "containers": containers,
            }
        )
    return {
        "node": state.node_name,
        "pods": pods,
        "rejected": [
            {"origin": r.origin, "error": r.error}
            for r in sorted(state.rejected.values(), key=lambda r: r.origin)
        ],
        "runtime": {"error": state.runtime_error, **state.runtime_info},
        "sourcesSynced": state.sources_synced,
    }


def _app_names(pod: Obj) -> set[str]:
    return {c["name"] for c in pod.get("spec", {}).get("containers") or []}


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.runtime_error:
        return web.Response(status=503, text=f"not ready: {state.runtime_error}\n")
    if not state.sources_synced:
        missing = ", ".join(sorted(state.sources_expected - state.sources_seen))
        return web.Response(status=503, text=f"not ready: sources not synced yet: {missing}\n")
    return web.Response(text="ok")


def trusted_peer(remote: str | None) -> bool:
    """A caller on this host (a loopback address) may read /pods and /metrics without a token."""
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The plain port: /pods and /metrics for this host's callers (kubelet's healthz port is
    loopback-only too); another host asks the TLS serving port."""
    if request.path in LOCAL_PATHS and not trusted_peer(request.remote):
        raise web.HTTPForbidden(
            text=f"{request.path} is served to this host only here; from elsewhere it is on "
            "the agent's TLS serving port, to the server's client certificate\n"
        )
    return await handler(request)


def caller_problem(der: bytes | None) -> tuple[int, str] | None:
    """PURE: None when the TLS peer's (verified) certificate is the server's kubelet client,
    else the HTTP code and text to answer: 401 without a certificate, 403 with another."""
    if der is None:
        return 401, "a client certificate is required: the server's kubelet client\n"
    try:
        problem = kubelet_client_problem(claims_of_der(der))
    except ValueError:
        problem = "the client certificate does not parse"
    return None if problem is None else (403, problem + "\n")


@web.middleware
async def kubelet_client_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The serving port: every path for the server's kubelet-client certificate only (the
    chain was verified against the fleet CA in the handshake; here: who it is)."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    refused = caller_problem(der)
    if refused is not None:
        code, text = refused
        log.info("serving_port_refused", code=code, remote=request.remote, path=request.path)
        raise web.HTTPUnauthorized(text=text) if code == 401 else web.HTTPForbidden(text=text)
    return await handler(request)


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    m.refresh(request.app[STATE])
    body = prometheus_client.generate_latest(m.registry)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


async def pods(request: web.Request) -> web.Response:
    return web.json_response(pods_view(request.app[STATE]))


def _runtime(request: web.Request) -> Runtime:
    runtime: Runtime | None = request.app[RUNTIME_OF]()
    if runtime is None:
        raise web.HTTPServiceUnavailable(text="the container runtime is not connected yet\n")
    return runtime


def _container(request: web.Request) -> tuple[str, Obj]:
    """The engine id and the spec of the container a request names ({namespace}, {pod},
    {container}); 404 or 400 with kubelet's words when there is none (yet)."""
    state = request.app[STATE]
    ns, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
    for record in state.pods.values():
        meta = record.pod["metadata"]
        if meta["name"] == name and meta.get("namespace", "default") == ns:
            cid = record.container_ids.get(container)
            if cid:
                spec = record.pod.get("spec") or {}
                every = (spec.get("initContainers") or []) + (spec.get("containers") or [])
                return cid, next((dict(c) for c in every if c.get("name") == container), {})
            code, text = no_container_answer(record.pod, record.status, container)
            raise web.HTTPNotFound(text=text) if code == 404 else web.HTTPBadRequest(text=text)
    raise web.HTTPNotFound(text=f"pod {ns}/{name} is not on this node\n")


def _container_id(request: web.Request) -> str:
    return _container(request)[0]


# kubelet's words for a container whose logs cannot be read yet (validateContainerLogStatus).
WAITING_WHY = {
    "ErrImagePull": "trying and failing to pull image",
    "ImagePullBackOff": "trying and failing to pull image",
    "ErrImageNeverPull": "image can't be pulled",
}


def no_container_answer(pod: Obj, status: Obj, container: str) -> tuple[int, str]:
    """PURE: the HTTP code and text kubelet answers for logs of a container with no engine
    container yet: 404 when the pod has no such container, else 400 saying why it waits."""
    name = str(pod.get("metadata", {}).get("name", ""))
    spec = pod.get("spec") or {}
    names = {c.get("name") for key in ("initContainers", "containers") for c in spec.get(key) or []}
    if container not in names:
        return 404, f"container {container} is not valid for pod {name}\n"
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    waiting = next(
        (s["state"]["waiting"] for s in statuses
         if s.get("name") == container and "waiting" in (s.get("state") or {})),
        None,
    )  # fmt: skip
    if waiting is None:
        return 400, f'container "{container}" in pod "{name}" is not available\n'
    reason = str(waiting.get("reason", ""))
    why = WAITING_WHY.get(reason, reason)
    return 400, f'container "{container}" in pod "{name}" is waiting to start: {why}\n'


async def _previous_id(request: web.Request, runtime: Runtime, current: str) -> str:
    """The id of the attempt before `current` (kubectl logs --previous)."""
    containers = await runtime.list_containers()
    now = next((c for c in containers if c.id == current), None)
    older = [
        c
        for c in containers
        if now is not None
        and c.pod_uid == now.pod_uid
        and c.container_name == now.container_name
        and c.is_init == now.is_init
        and c.attempt < now.attempt
    ]
    if not older:
        name = request.match_info["container"]
        raise web.HTTPBadRequest(text=f'previous terminated container "{name}" not found\n')
    return max(older, key=lambda c: c.attempt).id


def log_since(query: Mapping[str, str], now: float) -> float | None:
    """PURE: the unix time a logs request starts from: sinceSeconds before `now` (this host's
    clock, as kubelet counts it) or sinceTime (RFC 3339); None for the whole log.
    ValueError naming the parameter if it does not parse."""
    seconds, moment = query.get("sinceSeconds", ""), query.get("sinceTime", "")
    if seconds:
        if not seconds.isdigit() or int(seconds) < 1:
            raise ValueError(f"sinceSeconds: Invalid value: {seconds!r}: must be greater than 0")
        return now - int(seconds)
    if moment:
        try:
            return parse_time(moment)
        except ValueError as exc:
            raise ValueError(f"sinceTime: {exc}") from None
    return None


async def container_logs(request: web.Request) -> web.StreamResponse:
    """The container's log (tailLines, limitBytes, previous, follow, timestamps, sinceSeconds,
    sinceTime), as kubelet's /containerLogs."""
    cid = _container_id(request)
    runtime = _runtime(request)
    tail_text = request.query.get("tailLines")
    tail = int(tail_text) if tail_text and tail_text.isdigit() else None
    limit_text = request.query.get("limitBytes", "")
    limit = int(limit_text) if limit_text.isdigit() else None
    timestamps = request.query.get("timestamps") == "true"
    try:
        since = log_since(request.query, time.time())
    except ValueError as e:
        raise web.HTTPBadRequest(text=f"{e}\n") from e
    try:
        if request.query.get("previous") == "true":
            cid = await _previous_id(request, runtime, cid)
        if request.query.get("follow") == "true":
            chunks = runtime.follow_logs(cid, tail=tail, timestamps=timestamps, since=since)
            return await _follow_logs(request, chunks, limit)
        data = await runtime.logs(cid, tail=tail, timestamps=timestamps, since=since)
    except RuntimeError_ as e:
        raise web.HTTPBadGateway(text=f"{e}\n") from e
    if limit is not None:
        data = data[:limit]
    return web.Response(body=data, content_type="text/plain")


async def _follow_logs(
    request: web.Request, chunks: AsyncIterator[bytes], limit: int | None
) -> web.StreamResponse:
    """Stream the log until it ends, `limit` bytes are sent, or the client leaves (the runner's
    handler_cancellation cancels this handler then, which closes the engine's stream)."""
    response: web.StreamResponse | None = None
    left = limit
    try:
        async for chunk in chunks:
            if response is None:  # headers go out with the first bytes, so an error is a 502
                response = web.StreamResponse(headers={"Content-Type": "text/plain"})
                await response.prepare(request)
            data = chunk if left is None else chunk[:left]
            await response.write(data)
            if left is not None:
                left -= len(data)
                if left <= 0:
                    break
    except RuntimeError_ as e:
        if response is None:
            raise
        log.info("log_stream_ended", error=str(e))
    except ConnectionResetError:  # the client left between two chunks
        return response or web.Response()
    finally:
        await _aclose(chunks)
    if response is None:
        return web.Response(body=b"", content_type="text/plain")
    await response.write_eof()
    return response


async def _aclose(chunks: AsyncIterator[bytes]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


async def exec_stream(request: web.Request) -> web.StreamResponse:
    """GET/POST /exec/{ns}/{pod}/{container}?command=..&stdin=&stdout=&stderr=&tty=: a
    WebSocket in the channel protocol (v5/v4.channel.k8s.io), as kubelet serves it."""
    from nodeagent.api import remotecommand as rc

    async def start() -> tuple[ExecSession, rc.ExecOptions]:
        options = rc.exec_options(request.query, request.query.getall("command", []))
        if problem := options.problem():
            raise web.HTTPBadRequest(text=problem)
        cid = _container_id(request)
        session = await _runtime(request).start_exec(
            cid, options.command, stdin=options.stdin, tty=options.tty
        )
        log.info("exec_started", container=cid[:12], command=list(options.command), tty=options.tty)
        return session, options

    return await _serve_stream(request, "exec", start)


async def attach_stream(request: web.Request) -> web.StreamResponse:
    """GET/POST /attach/{ns}/{pod}/{container}?stdin=&stdout=&stderr=&tty=: the container's
    main process over the same channel protocol, as kubelet serves /attach: the terminal is
    the container's (spec `tty`), stdin reaches it only if its spec has `stdin: true`, and
    the end of its output ends the session with Success."""
    from nodeagent.api import remotecommand as rc

    async def start() -> tuple[ExecSession, rc.ExecOptions]:
        if problem := rc.exec_options(request.query, ()).streams_problem():
            raise web.HTTPBadRequest(text=problem)
        cid, container = _container(request)
        options = rc.attach_options(request.query, container)
        session = await _runtime(request).start_attach(
            cid,
            stdin=options.stdin,
            tty=options.tty,
            stdin_once=bool(container.get("stdinOnce")),
        )
        dropped = rc.query_bool(request.query.get("stdin")) and not options.stdin
        log.info("attach_started", container=cid[:12], tty=options.tty, stdin_dropped=dropped)
        return session, options

    return await _serve_stream(request, "attach", start)


# What kubelet says when the engine refuses to start a stream, by endpoint.
STREAM_FAILURE = {
    "exec": "error executing command in container",
    "attach": "error attaching to container",
}


async def _serve_stream(
    request: web.Request,
    kind: str,
    start: Callable[[], Awaitable[tuple[ExecSession, rc.ExecOptions]]],
) -> web.StreamResponse:
    """The WebSocket of an exec or attach. The caller was checked before the upgrade
    (kubelet_client_only); after it, every failure is a Status on the error channel (the server
    relays it to kubectl as it is)."""
    from nodeagent.agent import execstream
    from nodeagent.api import remotecommand as rc

    ws = web.WebSocketResponse(
        protocols=rc.PROTOCOLS, max_msg_size=EXEC_MAX_MESSAGE, heartbeat=EXEC_HEARTBEAT
    )
    if not ws.can_prepare(request).ok:
        raise web.HTTPBadRequest(text=f"{kind} needs a WebSocket upgrade (v5.channel.k8s.io)\n")
    await ws.prepare(request)
    try:
        session, options = await start()
    except web.HTTPException as e:
        await execstream.send_status(ws, rc.failure_status(str(e.text).strip(), code=e.status))
        return ws
    except RuntimeError_ as e:
        await execstream.send_status(ws, rc.failure_status(f"{STREAM_FAILURE[kind]}: {e}"))
        return ws
    await execstream.relay(ws, session, options, failure=STREAM_FAILURE[kind])
    return ws


def _base_app(
    *, state: AgentState, runtime_of: RuntimeOf, metrics_: AgentMetrics, middleware: Middleware
) -> web.Application:
    app = web.Application(middlewares=[middleware])
    app[STATE] = state
    app[RUNTIME_OF] = runtime_of
    app[METRICS] = metrics_
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/pods", pods)
    return app


def make_app(
    *, state: AgentState, runtime_of: RuntimeOf, metrics_: AgentMetrics
) -> web.Application:
    """The plain-HTTP `listen` port: health for all, /pods and /metrics for this host."""
    app = _base_app(state=state, runtime_of=runtime_of, metrics_=metrics_, middleware=loopback_only)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def make_serving_app(
    *, state: AgentState, runtime_of: RuntimeOf, metrics_: AgentMetrics
) -> web.Application:
    """The TLS serving port's application: logs, exec, attach, /pods and /metrics, for the
    server's kubelet-client certificate only."""
    app = _base_app(
        state=state, runtime_of=runtime_of, metrics_=metrics_, middleware=kubelet_client_only
    )
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    app.router.add_get("/exec/{namespace}/{pod}/{container}", exec_stream)
    app.router.add_post("/exec/{namespace}/{pod}/{container}", exec_stream)
    app.router.add_get("/attach/{namespace}/{pod}/{container}", attach_stream)
    app.router.add_post("/attach/{namespace}/{pod}/{container}", attach_stream)
    return app
