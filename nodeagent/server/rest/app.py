"""The REST application: routes generated from the resource table, middlewares, health.

`make_app(registry, authenticator)` returns an aiohttp app serving the Kubernetes paths of
every resource in nodeagent.api.resources, discovery and OpenAPI (discovery.py), /healthz,
/livez, /readyz and /metrics. Middlewares turn every error into a Kubernetes Status,
authenticate bearer tokens, apply impersonation headers, authorize non-resource paths
(/metrics, /api, /openapi/v2 ...) through the authorizer chain, and count, time and log each
request. At start-up the app makes the default RBAC policy (rbacbootstrap.py) and waits for
its RBAC index (rbacindex.py) to be complete.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from nodeagent.api.errors import (
    APIError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
)
from nodeagent.api.resources import RESOURCES, Resource
from nodeagent.server import impersonation
from nodeagent.server.auditpolicy import NODEAGENT_PREFIX, request_info
from nodeagent.server.auth import Attributes, Authenticator, authorize
from nodeagent.server.credentials import NodeCredentials
from nodeagent.server.rbacbootstrap import ensure_default_policy
from nodeagent.server.rbacindex import RBACIndex
from nodeagent.server.readiness import readyz_answer
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.requestlabels import request_labels
from nodeagent.server.rest import (
    audit,
    componentstatus,
    enrol,
    eviction,
    keys,
    proxy,
    selfreview,
    servingcert,
    tokenrequest,
)
from nodeagent.server.rest.handlers import handler_for, respond
from nodeagent.server.rest.metrics import Metrics
from nodeagent.server.rest.request import MAX_BODY_BYTES, Target, media_type

log = structlog.get_logger()

# Paths anyone may read without a token (kube-apiserver's system:public-info-viewer).
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})


def routes_for(r: Resource) -> list[tuple[str, Target]]:
    """Every path of one resource and what it serves."""
    base = r.path_prefix
    if r.namespaced:
        collection = f"{base}/namespaces/{{namespace}}/{r.name}"
        out = [
            (f"{base}/{r.name}", Target(resource=r, item=False, all_namespaces=True)),
            (collection, Target(resource=r, item=False)),
        ]
    else:
        collection = f"{base}/{r.name}"
        out = [(collection, Target(resource=r, item=False))]
    out.append((f"{collection}/{{name}}", Target(resource=r, item=True)))
    if "status" in r.subresources:
        out.append(
            (f"{collection}/{{name}}/status", Target(resource=r, item=True, subresource="status"))
        )
    return out


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except APIError as exc:
        return respond(exc.status_body(), status=exc.code)
    except web.HTTPRequestEntityTooLarge:
        err: APIError = RequestEntityTooLarge("the request body is too large: limit is 3MiB")
    except web.HTTPNotFound:
        err = NotFound("the server could not find the requested resource")
    except web.HTTPMethodNotAllowed:
        err = MethodNotAllowed("the server does not allow this method on the requested resource")
    except web.HTTPException:
        raise
    except Exception as exc:  # a bug: one log line naming it (frames without locals), a 500
        log.exception(
            "request_failed",
            method=request.method,
            path=request.path,
            error_type=type(exc).__name__,
            error=str(exc)[:500],
        )
        err = APIError("an error on the server has prevented the request from succeeding")
    return respond(err.status_body(), status=err.code)


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    auth = request.app[keys.AUTHENTICATOR]
    user = request[keys.USER] = await auth.authenticate(
        request.headers.get("Authorization"), enrolment=request.path == enrol.ENROL_PATH
    )
    policy = request.app[keys.RBAC].policy
    want = impersonation.requested(request.headers.items())
    if want is not None:
        for attrs in impersonation.checks(want):
            denied = authorize(user, attrs, policy)
            if denied is not None:
                raise denied
        request[keys.IMPERSONATOR] = user
        user = request[keys.USER] = impersonation.acting_user(want)
    # kube-apiserver authorizes a non-resource path (/metrics, /api) by path and HTTP method
    if (
        not request.path.startswith(NODEAGENT_PREFIX)
        and not request_info(request.method, request.path).resource
    ):
        path = Attributes(verb=request.method.lower(), path=request.path)
        denied = authorize(user, path, policy)
        if denied is not None:
            raise denied
    return await handler(request)


RBAC_SYNC_SECONDS = 30.0


async def _rbac(app: web.Application) -> AsyncIterator[None]:
    """The default policy, then the index the authorizer reads, complete before serving."""
    await ensure_default_policy(app[keys.REGISTRY])
    await app[keys.RBAC].start(timeout=RBAC_SYNC_SECONDS)
    yield
    await app[keys.RBAC].stop()


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Counts and times every request with kube-apiserver's labels, and logs it as
    kube-apiserver's httplog does: verb, path (never the query: it may carry a token-like
    value), user, code, latency, user agent; at debug, a 5xx at info."""
    started = time.monotonic()
    labels = request_labels(
        method=request.method,
        path=request.path,
        watch=request.query.get("watch", "").lower() not in ("", "0", "false"),
        dry_run=request.query.getall("dryRun", []),
        content_type=media_type(request),
    )
    code = 500  # errors_middleware answers anything unforeseen with a 500 Status
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    except asyncio.CancelledError:
        # a client closing its watch (kubectl rollout status, get -w, Ctrl-C) ends a stream
        # whose 200 went out when it began: kube-apiserver logs it as 200, not a server error
        if labels.verb == "WATCH":
            code = 200
        raise
    finally:
        seconds = time.monotonic() - started
        request.app[keys.METRICS].observe(labels, code=code, seconds=seconds)
        user = request.get(keys.USER)
        (log.info if code >= 500 else log.debug)(
            "http_request",
            verb=labels.verb,
            path=request.path,
            user=user.name if user is not None else "",
            code=code,
            latency_ms=round(seconds * 1000, 3),
            user_agent=request.headers.get("User-Agent", "")[:256],
            src_ip=request.remote,
        )


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.StreamResponse:
    verbose = request.query.get("verbose", "false").lower() not in ("false", "0")
    checks: dict[str, str] = request.app[keys.READY]
    status, text = readyz_answer(checks, verbose=verbose)
    return web.Response(status=status, text=text)


async def metrics_handler(request: web.Request) -> web.StreamResponse:
    body = request.app[keys.METRICS].exposition()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


def _add_discovery(app: web.Application) -> None:
    try:
        discovery = importlib.import_module("nodeagent.server.rest.discovery")
    except ImportError:
        log.warning("discovery_missing")
        return
    discovery.add_routes(app)


def make_app(
    registry: StoreRegistry,
    authenticator: Authenticator,
    credentials: NodeCredentials | None = None,
) -> web.Application:
    """The whole REST surface over `registry`; errors are Statuses, tokens are required.
    `credentials`: the node credential records (enrolment and rotation endpoints)."""
    app = web.Application(
        middlewares=[metrics_middleware, errors_middleware, auth_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    audit.install(app)  # the outermost middleware: writes to the audit log (rest/audit.py)
    app[keys.REGISTRY] = registry
    app[keys.AUTHENTICATOR] = authenticator
    app[keys.RBAC] = RBACIndex(registry)
    app.cleanup_ctx.append(_rbac)
    app[keys.METRICS] = Metrics()
    app[keys.READY] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    for r in RESOURCES:
        for path, target in routes_for(r):
            app.router.add_route("*", path, handler_for(target))
    _add_discovery(app)
    selfreview.add_routes(app)  # kubectl auth can-i / whoami
    componentstatus.add_routes(app)  # kubectl get cs
    eviction.add_routes(app)  # kubectl drain
    tokenrequest.add_routes(app)  # kubectl create token; the issuer's discovery documents
    servingcert.add_routes(app)  # agents' serving certificates (the signer is set by main)
    proxy.add_routes(app)  # kubectl logs / exec (idempotent: discovery may have added them)
    enrol.add_routes(app, credentials or NodeCredentials(registry.store))
    return app
