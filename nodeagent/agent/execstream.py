"""The agent's side of `kubectl exec` and `kubectl attach`: one WebSocket in the channel
protocol relayed to one engine session (Runtime.start_exec or start_attach), as kubelet serves
/exec and /attach: output as it is written, stdin, stdin EOF, terminal resizes in, and the
exit status last on the error channel (Success for an attach whose process ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import structlog
from aiohttp import web

from nodeagent.api import remotecommand as rc
from nodeagent.api.bodies import Obj
from nodeagent.runtime.protocol import ExecSession, RuntimeError_

log = structlog.get_logger()

# A terminal's latest size is applied once more this long after it arrived. kubectl sends two
# resizes at once when a session starts (the size plus one row and column, then the size), and
# under load podman has been seen to leave the terminal at the first, so the program kept the
# wrong size for the whole session. Applying the same size again changes nothing for the
# program: the kernel signals SIGWINCH only when the size differs.
RESIZE_REASSERT_SECONDS = 1.0


async def send_status(ws: web.WebSocketResponse, status: Obj) -> None:
    """The final message: a Status on the error channel, then the close."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_bytes(rc.frame(rc.ERROR, json.dumps(status).encode()))
    await ws.close()


async def relay(
    ws: web.WebSocketResponse,
    session: ExecSession,
    options: rc.ExecOptions,
    *,
    failure: str = "error executing command in container",
) -> None:
    """Relay until the command closes its output (then send its exit status) or the client
    leaves (then detach; the command is left to the engine, as kubelet leaves it). `failure`
    starts the message of an engine error (kubelet's words for exec or attach)."""
    output = asyncio.create_task(_pump_output(ws, session), name="exec-output")
    client = asyncio.create_task(_pump_input(ws, session, options), name="exec-input")
    try:
        await asyncio.wait({output, client}, return_when=asyncio.FIRST_COMPLETED)
        if not output.done():
            failed = None if client.cancelled() else client.exception()
            log.info("exec_client_left", command=list(options.command), error=str(failed or ""))
            return
        client.cancel()
        try:
            output.result()
            status = rc.exit_status(await session.exit_code(), options.command)
        except RuntimeError_ as exc:
            status = rc.failure_status(f"{failure}: {exc}")
        except ConnectionError:  # the client left while output was being sent
            return
        await send_status(ws, status)
    finally:
        for task in (output, client):
            task.cancel()
        await asyncio.gather(output, client, return_exceptions=True)
        await session.aclose()
        await ws.close()


async def _pump_output(ws: web.WebSocketResponse, session: ExecSession) -> None:
    while (chunk := await session.read()) is not None:
        channel, data = chunk
        await ws.send_bytes(rc.frame(channel, data))


async def _pump_input(
    ws: web.WebSocketResponse, session: ExecSession, options: rc.ExecOptions
) -> None:
    """Stdin, its close and resizes from the client, until the client closes the socket.
    A stdin the engine no longer takes is dropped: the output and the exit status still come."""
    stdin_open = options.stdin
    reassert: asyncio.Task[None] | None = None
    try:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:  # read as bytes, as kubelet reads it
                payload = message.data.encode()
            elif message.type is aiohttp.WSMsgType.BINARY:
                payload = message.data
            else:
                continue
            decoded = rc.decode_client_message(payload, ws.ws_protocol or "")
            try:
                match decoded:
                    case rc.StdinData(data=data) if stdin_open and data:
                        await session.write(data)
                    case rc.StdinClosed() if stdin_open:
                        stdin_open = False
                        await session.close_stdin()
                    case rc.Resize(width=width, height=height) if options.tty:
                        if reassert is not None:
                            reassert.cancel()
                        reassert = asyncio.create_task(
                            _resize_again(session, width, height), name="exec-resize-again"
                        )
                        await session.resize(width=width, height=height)
                    case _:
                        pass
            except (RuntimeError_, ConnectionError, RuntimeError) as exc:
                log.debug("exec_input_dropped", kind=type(decoded).__name__, error=str(exc))
                if not isinstance(decoded, rc.Resize):
                    stdin_open = False
    finally:
        if reassert is not None:
            reassert.cancel()


async def _resize_again(session: ExecSession, width: int, height: int) -> None:
    """The latest size once more, unless a newer resize cancels this first."""
    await asyncio.sleep(RESIZE_REASSERT_SECONDS)
    with contextlib.suppress(RuntimeError_, ConnectionError, RuntimeError):
        await session.resize(width=width, height=height)
