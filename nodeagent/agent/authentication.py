"""Who may call the agent's two ports: the caller checks, as aiohttp middlewares.

The plain `listen` port: /pods and /metrics for callers on this host (a loopback address) only.
The TLS serving port: every path for a client certificate of the fleet CA that is the server's
kubelet client (nodeagent.api.certs), 401 without a certificate, 403 with any other (a node's,
for one). No bearer token is accepted on either port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from nodeagent.api.certs import kubelet_client_problem

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOCAL_PATHS = frozenset({"/pods", "/metrics"})  # on the plain port: this host's callers only


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


@web.middleware
async def kubelet_client_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The serving port: every path for the server's kubelet-client certificate only (the
    chain and the clientAuth usage were verified in the handshake; here: who it is)."""
    transport = request.transport
    peercert = transport.get_extra_info("peercert") if transport is not None else None
    refused = kubelet_client_problem(peercert)
    if refused is not None:
        code, text = refused
        log.info("serving_port_refused", code=code, remote=request.remote, path=request.path)
        raise web.HTTPUnauthorized(text=text) if code == 401 else web.HTTPForbidden(text=text)
    return await handler(request)
