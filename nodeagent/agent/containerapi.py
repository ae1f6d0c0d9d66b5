"""The serving port's container endpoints, as kubelet serves them: /containerLogs, /exec and
/attach, and which container a request names (404 or 400 in kubelet's words when none).

Routed by http.make_serving_app, behind its client-certificate check. The WebSocket relay of an
exec or attach is execstream.py's, imported by the first one (an idle agent never needs it:
resident memory on every host, docs/performance.md section 2).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from nodeagent.agent.httpkeys import RUNTIME_OF, STATE
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import parse_time
from nodeagent.runtime.protocol import ExecSession, Runtime, RuntimeError_

if TYPE_CHECKING:
    from nodeagent.api import remotecommand as rc

log = structlog.get_logger()

EXEC_MAX_MESSAGE = 1 << 20  # kubectl sends stdin in 32 KiB messages
EXEC_HEARTBEAT = 30.0  # pings to the server: a lost server ends the exec relay (and detaches)


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
        name, pod = request.match_info["container"], request.match_info["pod"]
        raise web.HTTPBadRequest(
            text=f'previous terminated container "{name}" in pod "{pod}" not found\n'
        )
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
    (authentication.kubelet_client_only); after it, every failure is a Status on the error
    channel (the server relays it to kubectl as it is)."""
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
