"""Which requests the audit log records, and the record itself (kube-apiserver's audit Event).

PURE: plain values in (method, path, times as floats), a dict out; rest/audit.py does the I/O.
The policy is kube-apiserver's level Metadata for writes: create, update, patch, delete and
deletecollection on any resource, every request to pods/exec, pods/attach and pods/portforward
(reads or not: they run commands), and every request to nodeagent's own endpoints under
/nodeagent.io/ (enrolment and credentials). Reads (get, list, watch, logs) are not recorded.
QUIET rows, the high-volume writes that Kubernetes' reference policy (GCE's) does not log,
Events and Lease renewals, are left out when they succeed; a refused one is still recorded.
A record never holds a body, a header other than the User-Agent, or a token: only who, what,
where from and the answer's code.
"""

from __future__ import annotations

import functools
import time  # its calendar functions only: the caller reads the clock
from dataclasses import dataclass

from nodeagent.api.bodies import Obj

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
STREAM_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
NODEAGENT_PREFIX = "/nodeagent.io/"
_STREAM_SUFFIXES = tuple(f"/{s}" for s in STREAM_SUBRESOURCES)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# a namespace's own subresources: /api/v1/namespaces/NAME/status is the namespace's status
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
MAX_USER_AGENT = 1024  # kube-apiserver's cap on the userAgent it records
# (resource, verbs) not recorded when they succeed: every Event write ("performance impact"),
# Lease updates (every node's heartbeat, every 10 s; leader election). Rules as data.
QUIET: tuple[tuple[str, frozenset[str]], ...] = (
    ("events", WRITE_VERBS),
    ("leases", frozenset({"update"})),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestInfo:
    """What a request is about, from its method and path alone (kube-apiserver's RequestInfo):
    known before authentication, so a refused request is described as well as an allowed one."""

    verb: str  # a Kubernetes verb; for a non-resource path the method in lower case
    resource: str = ""  # "" for a non-resource path (/nodeagent.io/..., /version)
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    api_group: str = ""
    api_version: str = ""


def request_info(method: str, path: str) -> RequestInfo:
    """Parse /api/v1/... and /apis/GROUP/VERSION/... paths; anything else is non-resource."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":  # api, VERSION, RESOURCE
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":  # apis, GROUP, VERSION, RESOURCE
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(verb=method.lower())
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    name = rest[1] if len(rest) > 1 else ""
    if method == "DELETE":
        verb = "delete" if name else "deletecollection"
    elif method in _VERBS:
        verb = _VERBS[method]
    else:
        verb = "get" if name else "list"  # watches are reads too: not told apart here
    return RequestInfo(
        verb=verb,
        resource=rest[0],
        subresource=rest[2] if len(rest) > 2 else "",
        namespace=namespace,
        name=name,
        api_group=group,
        api_version=version,
    )


def audited(method: str, path: str) -> RequestInfo | None:
    """The request's info when the policy records it, else None (a read: most requests, so
    they are let go before any parsing)."""
    if (
        method in _READ_METHODS
        and not path.startswith(NODEAGENT_PREFIX)
        and not path.endswith(_STREAM_SUFFIXES)
    ):
        return None
    info = request_info(method, path)
    if (
        info.verb in WRITE_VERBS
        or info.subresource in STREAM_SUBRESOURCES
        or path.startswith(NODEAGENT_PREFIX)
    ):
        return info
    return None


def recorded(info: RequestInfo, code: int | None) -> bool:
    """Whether an audited request's record is written, once its answer is known: all but the
    QUIET ones that succeeded."""
    if code is None or code >= 400:  # a refusal, or no answer at all, is always kept
        return True
    return not any(
        info.resource == resource and not info.subresource and info.verb in verbs
        for resource, verbs in QUIET
    )


def timestamp(seconds: float) -> str:
    """RFC 3339 with microseconds in UTC, as kube-apiserver writes its audit times."""
    whole = int(seconds)
    micros = min(999_999, round((seconds - whole) * 1e6))
    return f"{_second(whole)}.{micros:06d}Z"


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    # the records of one second share this part: formatting it is most of a timestamp's cost
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def audit_event(
    *,
    info: RequestInfo,
    audit_id: str,
    stage: str,
    request_uri: str,
    username: str | None,
    groups: tuple[str, ...],
    source_ip: str | None,
    user_agent: str,
    code: int | None,
    received: float,
    now: float,
    impersonated: tuple[str, tuple[str, ...]] | None = None,
) -> Obj:
    """One audit.k8s.io/v1 Event at level Metadata. `username` None: not authenticated (the
    user is `{}`, as kube-apiserver records a failed authentication); `code` None: the request
    ended without an answer (its client went away), so there is no responseStatus."""
    event: Obj = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": audit_id,
        "stage": stage,
        "requestURI": request_uri,
        "verb": info.verb,
        "user": {} if username is None else {"username": username, "groups": list(groups)},
    }
    if impersonated is not None:  # `user` is who authenticated, as kube-apiserver records
        event["impersonatedUser"] = {"username": impersonated[0], "groups": list(impersonated[1])}
    event |= {
        "sourceIPs": [source_ip] if source_ip else [],
        "userAgent": user_agent[:MAX_USER_AGENT],
    }
    if info.resource:
        ref = {
            "resource": info.resource,
            "namespace": info.namespace,
            "name": info.name,
            "apiGroup": info.api_group,
            "apiVersion": info.api_version,
            "subresource": info.subresource,
        }
        event["objectRef"] = {k: v for k, v in ref.items() if v}
    if code is not None:
        event["responseStatus"] = {"metadata": {}, "code": code}
    event["requestReceivedTimestamp"] = timestamp(received)
    event["stageTimestamp"] = timestamp(now)
    return event
