"""PURE pod events as kubelet records them, from two successive statuses of one pod.

`pod_events(pod, old, new)` -> [(type, reason, message)]: Created and Started for a new
container, Failed for a failed pull, a CreateContainerConfigError or CreateContainerError,
BackOff for ImagePullBackOff and CrashLoopBackOff; `warning_event` for a field not honoured.
`pulling_event` / `pulled_event` are the image manager's (the executor records them, since only
it knows whether a pull happened; `go_duration` writes a duration as Go's Duration.String).
`pod_event(...)` builds the Event object, named `POD.<hex unix nanoseconds>` as client-go names
them (one pod's events list in time order); `event_key(...)` is what makes two occurrences one
Event, whose `count` the agent bumps as client-go's aggregation does.
"""

from __future__ import annotations

from collections.abc import Callable

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time

INVALID_ENV_PREFIX = "Keys ["  # as runtime/convert.py writes kubelet's message
PodEvent = tuple[str, str, str]  # type, reason, message
COMPONENT = "nodeagent"


def _statuses(status: Obj | None) -> list[Obj]:
    status = status or {}
    return list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )


def _waiting(s: Obj) -> Obj:
    return (s.get("state") or {}).get("waiting") or {}


def _cause(message: str) -> str:
    """The error itself, without the agent's "Back-off 10s starting container=c: " prefix."""
    return message.split(": ", 1)[1] if message.startswith("Back-off ") else message


# waiting reason newly shown -> the event kubelet records (image, name, pod ref, message)
WAITING_EVENTS: dict[str, Callable[[str, str, str, str], PodEvent]] = {
    "ErrImagePull": lambda image, _n, _p, msg: (
        "Warning",
        "Failed",
        f'Failed to pull image "{image}": {_cause(msg)}'.rstrip(": "),
    ),
    "ImagePullBackOff": lambda image, _n, _p, _m: (
        "Normal",
        "BackOff",
        f'Back-off pulling image "{image}"',
    ),
    # kubelet's startContainer: FailedToCreateContainer, "Error: %v"
    "CreateContainerConfigError": lambda _i, _n, _p, msg: (
        "Warning",
        "Failed",
        f"Error: {_cause(msg)}",
    ),
    "CreateContainerError": lambda _i, _n, _p, msg: ("Warning", "Failed", f"Error: {_cause(msg)}"),
    "CrashLoopBackOff": lambda _i, name, ref, _m: (
        "Warning",
        "BackOff",
        f"Back-off restarting failed container {name} in pod {ref}",
    ),
}


def warning_event(warning: str) -> PodEvent:
    """A field or volume the agent cannot honour, as a Warning event (`kubectl describe pod`
    shows it); envFrom keys skipped carry kubelet's own reason."""
    if warning.startswith(INVALID_ENV_PREFIX):
        return ("Warning", "InvalidEnvironmentVariableNames", warning)
    return ("Warning", "NotSupported", warning)


def go_duration(seconds: float) -> str:
    """`seconds` truncated to milliseconds, written as Go's time.Duration.String() writes it
    ("313ms", "1.5s", "1m2.034s", "0s"), as kubelet prints pull times."""
    millis = max(0, int(seconds * 1000))
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    return f"{minutes}m{secs}" if minutes else secs


def pulling_event(image: str) -> PodEvent:
    """Recorded just before an actual pull."""
    return ("Normal", "Pulling", f'Pulling image "{image}"')


def pulled_event(
    image: str, *, pulled: bool, seconds: float = 0.0, size: int | None = None
) -> PodEvent:
    """After ensuring the image: how long the pull took (no pull queue here: the time including
    waiting is the same) and its size, or that it was already there."""
    if not pulled:
        return ("Normal", "Pulled", f'Container image "{image}" already present on machine')
    took = go_duration(seconds)
    message = f'Successfully pulled image "{image}" in {took} ({took} including waiting).'
    if size is not None:
        message += f" Image size: {size} bytes."
    return ("Normal", "Pulled", message)


def pod_events(pod: Obj, old: Obj | None, new: Obj) -> list[PodEvent]:
    """The events between status `old` (None: nothing known) and `new` of `pod`."""
    meta = pod.get("metadata") or {}
    ref = f"{meta.get('name', '')}_{meta.get('namespace', 'default')}({meta.get('uid', '')})"
    before = {s.get("name"): s for s in _statuses(old)}
    events: list[PodEvent] = []
    for s in _statuses(new):
        name, image = str(s.get("name", "")), str(s.get("image", ""))
        prior = before.get(name) or {}
        cid = s.get("containerID") or ""
        if cid and cid != prior.get("containerID"):
            events += [
                ("Normal", "Created", f"Created container: {name}"),
                ("Normal", "Started", f"Started container {name}"),
            ]
        reason = str(_waiting(s).get("reason", ""))
        if reason in WAITING_EVENTS and reason != _waiting(prior).get("reason"):
            message = str(_waiting(s).get("message", ""))
            events.append(WAITING_EVENTS[reason](image, name, ref, message))
    return events


def event_key(pod: Obj, event: PodEvent) -> str:
    """Two occurrences with the same key are one Event (client-go's aggregation key)."""
    type_, reason, message = event
    return "\x00".join((str((pod.get("metadata") or {}).get("uid", "")), type_, reason, message))


def pod_event(pod: Obj, event: PodEvent, *, node_name: str, now: float) -> Obj:
    """The core/v1 Event for `event` about `pod`, recorded by this node's agent at `now`."""
    type_, reason, message = event
    meta = pod.get("metadata") or {}
    stamp = format_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta.get('name', '')}.{int(now * 1e9):x}",
            "namespace": meta.get("namespace") or "default",
        },
        "involvedObject": {
            "kind": "Pod",
            "apiVersion": "v1",
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace") or "default",
            "uid": meta.get("uid", ""),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": COMPONENT, "host": node_name},
        "reportingComponent": COMPONENT,
        "reportingInstance": node_name,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
