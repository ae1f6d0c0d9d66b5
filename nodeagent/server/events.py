"""Recording Events for the controllers, aggregated like client-go's event recorder.

`record_event(registry, involved=..., type=..., reason=..., message=..., now=..., component=...)`
writes a core/v1 Event about `involved`. A repeat (same object, type, reason, message and
component) bumps `count` and `lastTimestamp` of the same Event instead of adding another,
so `kubectl describe` shows "(x5 over 2m)". Events expire after EVENT_TTL_SECONDS (the
garbage collector prunes them, as kube-apiserver's --event-ttl does).
"""

from __future__ import annotations

import hashlib
from typing import Any

import structlog

from nodeagent.api import timefmt
from nodeagent.api.errors import AlreadyExists, APIError, Conflict, NotFound
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()

Obj = dict[str, Any]

EVENT_TTL_SECONDS = 3600.0


def event_name(involved: Obj, *, type: str, reason: str, message: str, component: str) -> str:
    """A stable name per (object, type, reason, message, component): repeats meet."""
    meta = involved.get("metadata") or {}
    key = "\x00".join(
        (str(meta.get("uid", "")), str(meta.get("name", "")), type, reason, message, component)
    )
    return f"{meta.get('name', 'unknown')}.{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def new_event(
    involved: Obj, *, name: str, type: str, reason: str, message: str, now: float, component: str
) -> Obj:
    """PURE: the Event object for a first occurrence."""
    meta = involved.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    stamp = timefmt.format_time(now)
    ref: Obj = {
        "kind": involved.get("kind", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "apiVersion": involved.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": type,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


async def record_event(
    registry: Registry,
    *,
    involved: Obj,
    type: str,
    reason: str,
    message: str,
    now: float,
    component: str,
) -> None:
    """Write (or bump) the Event; failures are logged, never raised (events are best effort)."""
    name = event_name(involved, type=type, reason=reason, message=message, component=component)
    fresh = new_event(
        involved,
        name=name,
        type=type,
        reason=reason,
        message=message,
        now=now,
        component=component,
    )
    namespace = fresh["metadata"]["namespace"]
    for _attempt in range(5):
        try:
            try:
                existing = await registry.get("events", namespace, name)
            except NotFound:
                await registry.create("events", fresh, namespace=namespace)
                return
            existing["count"] = int(existing.get("count") or 1) + 1
            existing["lastTimestamp"] = fresh["lastTimestamp"]
            await registry.update("events", existing)
            return
        except (AlreadyExists, Conflict):
            continue
        except APIError as exc:
            log.warning("event_not_recorded", reason=reason, error=exc.message)
            return
    log.warning("event_not_recorded", reason=reason, error="too many conflicts")


def expired(event: Obj, *, now: float, ttl: float = EVENT_TTL_SECONDS) -> bool:
    """PURE: whether an Event's last occurrence is older than the TTL."""
    stamp = event.get("lastTimestamp") or (event.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return False
    try:
        return timefmt.parse_time(str(stamp)) + ttl < now
    except ValueError:
        return False
