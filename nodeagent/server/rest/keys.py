"""Typed keys for what the REST app and its requests carry (aiohttp AppKey, request keys)."""

from __future__ import annotations

from aiohttp import web

from nodeagent.server.auth import Authenticator, User
from nodeagent.server.rbacindex import RBACIndex
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.rest.metrics import Metrics
from nodeagent.server.rest.request import Call

REGISTRY = web.AppKey("registry", StoreRegistry)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
METRICS = web.AppKey("metrics", Metrics)
RBAC = web.AppKey("rbac", RBACIndex)  # the RBAC policy the authorizer reads
READY = web.AppKey("ready", dict[str, str])  # readiness check -> "" or why it fails

USER = web.RequestKey("user", User)
# the authenticated caller when the request impersonates USER (rest/impersonation.py)
IMPERSONATOR = web.RequestKey("impersonator", User)
CALL = web.RequestKey("call", Call)

__all__ = [
    "AUTHENTICATOR",
    "CALL",
    "IMPERSONATOR",
    "METRICS",
    "RBAC",
    "READY",
    "REGISTRY",
    "USER",
    "Call",
    "User",
]
