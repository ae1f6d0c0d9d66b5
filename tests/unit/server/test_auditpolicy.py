"""The audit policy (which requests are recorded) and the record's shape, as pure values."""

from __future__ import annotations

import json

import pytest

from nodeagent.server.auditpolicy import (
    RequestInfo,
    audit_event,
    audited,
    recorded,
    request_info,
    timestamp,
)

CORE_POD = "/api/v1/namespaces/default/pods/web"


def _pods(verb: str, **kw: str) -> RequestInfo:
    return RequestInfo(verb=verb, resource="pods", namespace="default", api_version="v1", **kw)


def _core(verb: str, resource: str, **kw: str) -> RequestInfo:
    return RequestInfo(verb=verb, resource=resource, api_version="v1", **kw)


@pytest.mark.parametrize(
    ("method", "path", "want"),
    [
        ("POST", "/api/v1/namespaces/default/pods", _pods("create")),
        ("PUT", CORE_POD, _pods("update", name="web")),
        ("PATCH", CORE_POD + "/status", _pods("patch", name="web", subresource="status")),
        ("DELETE", CORE_POD, _pods("delete", name="web")),
        ("DELETE", "/api/v1/namespaces/default/pods", _pods("deletecollection")),
        ("GET", CORE_POD + "/exec", _pods("get", name="web", subresource="exec")),
        (
            "POST",
            "/apis/apps/v1/namespaces/kube-system/daemonsets",
            RequestInfo(
                verb="create",
                resource="daemonsets",
                namespace="kube-system",
                api_group="apps",
                api_version="v1",
            ),
        ),
        ("PATCH", "/api/v1/nodes/n1", _core("patch", "nodes", name="n1")),
        (
            "DELETE",
            "/api/v1/namespaces/team",
            _core("delete", "namespaces", namespace="team", name="team"),
        ),
        (
            "PUT",
            "/api/v1/namespaces/team/finalize",
            _core("update", "namespaces", namespace="team", name="team", subresource="finalize"),
        ),
        ("GET", "/api/v1/pods", _core("list", "pods")),
        ("POST", "/nodeagent.io/v1/enrol", RequestInfo(verb="post")),
        ("GET", "/version", RequestInfo(verb="get")),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_request_info_is_read_from_method_and_path(
    method: str, path: str, want: RequestInfo
) -> None:
    """Paths parse as kube-apiserver's RequestInfo: verb, resource, subresource, scope."""
    assert request_info(method, path) == want


@pytest.mark.parametrize(
    ("method", "path", "recorded"),
    [
        ("POST", "/api/v1/namespaces/default/pods", True),
        ("PUT", CORE_POD, True),
        ("PATCH", "/api/v1/nodes/n1/status", True),
        ("DELETE", CORE_POD, True),
        ("DELETE", "/api/v1/namespaces/default/pods", True),
        ("POST", CORE_POD + "/exec", True),
        (
            "GET",
            CORE_POD + "/exec",
            True,
        ),  # WebSocket exec: a read by method, a command all the same
        ("GET", CORE_POD + "/attach", True),
        ("POST", CORE_POD + "/portforward", True),
        ("POST", "/nodeagent.io/v1/enrol", True),
        ("GET", "/nodeagent.io/v1/serving-certificate", True),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", True),  # a create
        ("GET", CORE_POD, False),
        ("GET", "/api/v1/pods", False),
        ("GET", CORE_POD + "/log", False),
        ("GET", "/healthz", False),
        ("GET", "/metrics", False),
        ("POST", "/no/such/path", False),  # not a resource, not ours: a 404, not a write
    ],
)
def test_the_policy_records_writes_streams_and_nodeagent_endpoints(
    method: str, path: str, recorded: bool
) -> None:
    """Writes, exec/attach/portforward and /nodeagent.io/ are recorded; reads are not."""
    assert (audited(method, path) is not None) is recorded


def test_an_event_has_kube_apiservers_fields_and_nothing_else() -> None:
    """A Metadata-level audit.k8s.io/v1 Event: who, what, where from, the code; no body."""
    event = audit_event(
        info=request_info("POST", CORE_POD + "/exec"),
        audit_id="0f9c",
        stage="ResponseStarted",
        request_uri="/api/v1/namespaces/default/pods/web/exec?command=id&stdout=true",
        username="admin",
        groups=("system:masters", "system:authenticated"),
        source_ip="10.0.0.7",
        user_agent="kubectl/v1.37.0",
        code=101,
        received=1_800_000_000.25,
        now=1_800_000_000.5,
    )
    assert event == {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "0f9c",
        "stage": "ResponseStarted",
        "requestURI": "/api/v1/namespaces/default/pods/web/exec?command=id&stdout=true",
        "verb": "create",
        "user": {"username": "admin", "groups": ["system:masters", "system:authenticated"]},
        "sourceIPs": ["10.0.0.7"],
        "userAgent": "kubectl/v1.37.0",
        "objectRef": {
            "resource": "pods",
            "namespace": "default",
            "name": "web",
            "apiVersion": "v1",
            "subresource": "exec",
        },
        "responseStatus": {"metadata": {}, "code": 101},
        "requestReceivedTimestamp": "2027-01-15T08:00:00.250000Z",
        "stageTimestamp": "2027-01-15T08:00:00.500000Z",
    }
    json.dumps(event)  # a JSON line as it stands


def test_an_unauthenticated_or_unanswered_request() -> None:
    """No user: `user` is {} (kube-apiserver's failed authentication); no code: no
    responseStatus; a user agent past 1024 characters is cut there."""
    event = audit_event(
        info=request_info("POST", "/nodeagent.io/v1/enrol"),
        audit_id="1",
        stage="ResponseComplete",
        request_uri="/nodeagent.io/v1/enrol",
        username=None,
        groups=(),
        source_ip=None,
        user_agent="x" * 5000,
        code=None,
        received=0.0,
        now=0.0,
    )
    assert event["user"] == {}
    assert event["sourceIPs"] == []
    assert "responseStatus" not in event
    assert "objectRef" not in event
    assert event["verb"] == "post"
    assert len(event["userAgent"]) == 1024


@pytest.mark.parametrize(
    ("method", "path", "code", "kept"),
    [
        ("POST", "/api/v1/namespaces/default/events", 201, False),  # GCE's policy drops events
        ("PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/e1", 200, False),
        ("POST", "/api/v1/namespaces/default/events", 403, True),  # a refusal is kept
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", 200, False),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2", 403, True),
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", 201, True),
        ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", 200, True),
        ("PUT", "/api/v1/nodes/n1/status", 200, True),
        ("POST", "/api/v1/namespaces/default/events", None, True),  # no answer: kept
    ],
)
def test_quiet_writes_are_dropped_only_when_they_succeed(
    method: str, path: str, code: int | None, kept: bool
) -> None:
    """Event writes and Lease renewals that succeed are not recorded; refused ones are."""
    info = audited(method, path)
    assert info is not None
    assert recorded(info, code) is kept


def test_timestamps_are_rfc3339_micro_utc() -> None:
    """Microseconds always six digits, Z for UTC."""
    assert timestamp(1_800_000_000.0) == "2027-01-15T08:00:00.000000Z"
    assert timestamp(1_800_000_000.000_042) == "2027-01-15T08:00:00.000042Z"
