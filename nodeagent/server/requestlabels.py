"""What a request is called in the server's metrics and request log: kube-apiserver's labels.

PURE: method, path and a few query values in, a frozen value out; rest/app.py's middleware
does the I/O. kube-apiserver's endpoints/metrics (MonitorRequest) are the reference:
- verb: the HTTP method in upper case, with GET split into GET (one named object) and LIST
  (a collection), LIST with `watch=true` reported as WATCH, a PATCH with the apply media type
  as APPLY and the exec/attach/portforward/proxy subresources as CONNECT; any other method is
  "other" (a bounded set: a client cannot mint label values);
- scope: "resource" for one named object or a create, "namespace" for a namespaced
  collection, "cluster" for a collection across namespaces, "" for a non-resource path;
- group, version, resource, subresource from the path; "" for non-resource paths;
- dry_run: "All" for a dry run, "invalid" for another value (refused), "" otherwise;
- component: "apiserver".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nodeagent.api.resources import RESOURCES
from nodeagent.server.auditpolicy import request_info

COMPONENT = "apiserver"
APPLY_MEDIA_TYPE = "application/apply-patch+yaml"
CONNECT_SUBRESOURCES = frozenset({"attach", "exec", "portforward", "proxy"})
# kube-apiserver's validRequestMethods: anything else is counted as "other"
VALID_VERBS = frozenset(
    {
        "APPLY",
        "CONNECT",
        "DELETE",
        "GET",
        "HEAD",
        "LIST",
        "OPTIONS",
        "PATCH",
        "POST",
        "PUT",
        "WATCH",
    }
)
OTHER = "other"
# Label values come from the path, which any caller writes: only the served resources and
# subresources are named, anything else is counted as a non-resource request (as
# kube-apiserver counts only its installed routes), so no client can grow the label sets.
SERVED = frozenset((r.group, r.version, r.name) for r in RESOURCES)
SUBRESOURCES = frozenset(
    {"log", *CONNECT_SUBRESOURCES, *(s for r in RESOURCES for s in r.subresources)}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestLabels:
    verb: str
    dry_run: str
    group: str
    version: str
    resource: str
    subresource: str
    scope: str
    component: str = COMPONENT


def request_labels(
    *,
    method: str,
    path: str,
    watch: bool,
    dry_run: Sequence[str],
    content_type: str,
) -> RequestLabels:
    """The labels of one request (`watch`: its watch query flag; `content_type`: the media
    type of its body, without parameters)."""
    info = request_info(method, path)
    resource_request = (info.api_group, info.api_version, info.resource) in SERVED and (
        not info.subresource or info.subresource in SUBRESOURCES
    )
    if not resource_request:
        info = request_info(method, "/")
    if info.name or (info.verb == "create" and resource_request):
        scope = "resource"
    elif info.namespace:
        scope = "namespace"
    elif resource_request:
        scope = "cluster"
    else:
        scope = ""
    verb = method.upper()
    if verb in ("GET", "HEAD") and scope not in ("resource", ""):
        verb = "LIST"
    if watch and verb in ("GET", "LIST") and resource_request and not info.subresource:
        verb = "WATCH"
    if verb == "PATCH" and content_type == APPLY_MEDIA_TYPE:
        verb = "APPLY"
    if info.subresource in CONNECT_SUBRESOURCES:
        verb = "CONNECT"
    if verb not in VALID_VERBS:
        verb = OTHER
    return RequestLabels(
        verb=verb,
        dry_run=_dry_run(dry_run),
        group=info.api_group,
        version=info.api_version,
        resource=info.resource,
        subresource=info.subresource,
        scope=scope,
    )


def _dry_run(values: Sequence[str]) -> str:
    """kube-apiserver's cleanDryRun: the sorted distinct values, "invalid" for anything else
    than All (refused with a 400 anyway: the label values stay bounded)."""
    if not values:
        return ""
    return "All" if set(values) == {"All"} else "invalid"
