"""Recording Events for the controllers, aggregated like client-go's event recorder.

`EventRecorder()(registry, involved=..., type=..., reason=..., message=..., now=..., component=...)`
writes a core/v1 Event about `involved`, named `NAME.<hex unix nanoseconds>` as client-go names
them (so `kubectl get events` lists one object's events in time order). A repeat (same object,
type, reason, message and component) that the recorder remembers bumps `count` and
`lastTimestamp` of the same Event instead of adding another, so `kubectl describe` shows
"(x5 over 2m)"; like client-go's correlator, the memory is bounded and per process (a new
leader starts counting afresh). Events expire after EVENT_TTL_SECONDS (the garbage collector
prunes them, as kube-apiserver's --event-ttl does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from nodeagent.api import timefmt
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import AlreadyExists, APIError, Conflict, NotFound
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()

EVENT_TTL_SECONDS = 3600.0
REMEMBERED_EVENTS = 4096  # client-go's correlator cache size


def aggregate_key(involved: Obj, *, type: str, reason: str, message: str, component: str) -> str:
    """PURE: what makes two occurrences one Event (client-go's aggregation key)."""
    meta = involved.get("metadata") or {}
    return "\x00".join(
        (str(meta.get("uid", "")), str(meta.get("name", "")), type, reason, message, component)
    )


def event_name(involved: Obj, *, now: float, nudge: int = 0) -> str:
    """PURE: client-go's `NAME.<hex unix nanoseconds>` (+ `nudge` ns): events sort by time."""
    meta = involved.get("metadata") or {}
    return f"{meta.get('name', 'unknown')}.{int(now * 1e9) + nudge:x}"


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


@dataclass
class EventRecorder:
    """Writes Events, bumping the one it wrote before for a repeat (best effort, never raises)."""

    remembered: int = REMEMBERED_EVENTS
    _names: dict[str, str] = field(default_factory=dict)  # aggregate key -> Event name

    async def __call__(
        self,
        registry: Registry,
        *,
        involved: Obj,
        type: str,
        reason: str,
        message: str,
        now: float,
        component: str,
    ) -> None:
        key = aggregate_key(
            involved, type=type, reason=reason, message=message, component=component
        )
        try:
            name = self._names.get(key)
            if name is None or not await self._bump(registry, involved, name, now):
                name = await self._create(
                    registry,
                    involved,
                    type=type,
                    reason=reason,
                    message=message,
                    now=now,
                    component=component,
                )
            self._remember(key, name)
        except APIError as exc:
            log.warning("event_not_recorded", reason=reason, error=exc.message)

    async def _bump(self, registry: Registry, involved: Obj, name: str, now: float) -> bool:
        """count + 1 on the Event already written; False when it is gone (expired, deleted)."""
        namespace = str((involved.get("metadata") or {}).get("namespace") or "default")
        for _attempt in range(5):
            try:
                existing = await registry.get("events", namespace, name)
            except NotFound:
                return False
            existing["count"] = int(existing.get("count") or 1) + 1
            existing["lastTimestamp"] = timefmt.format_time(now)
            try:
                await registry.update("events", existing)
                return True
            except NotFound:
                return False
            except Conflict:
                continue
        raise Conflict("too many conflicts")

    async def _create(self, registry: Registry, involved: Obj, *, now: float, **what: str) -> str:
        for attempt in range(5):  # two events of one object in the same nanosecond: the next one
            fresh = new_event(
                involved, name=event_name(involved, now=now, nudge=attempt), now=now, **what
            )
            try:
                await registry.create("events", fresh, namespace=fresh["metadata"]["namespace"])
                return str(fresh["metadata"]["name"])
            except AlreadyExists:
                continue
        raise AlreadyExists("too many events of one object in one nanosecond")

    def _remember(self, key: str, name: str) -> None:
        self._names.pop(key, None)
        self._names[key] = name  # newest last: the oldest is forgotten first
        while len(self._names) > self.remembered:
            del self._names[next(iter(self._names))]


def expired(event: Obj, *, now: float, ttl: float = EVENT_TTL_SECONDS) -> bool:
    """PURE: whether an Event's last occurrence is older than the TTL."""
    stamp = event.get("lastTimestamp") or (event.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return False
    try:
        return timefmt.parse_time(str(stamp)) + ttl < now
    except ValueError:
        return False
