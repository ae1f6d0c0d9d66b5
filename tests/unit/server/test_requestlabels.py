"""Each request's metric labels, as kube-apiserver's MonitorRequest names them."""

from __future__ import annotations

import pytest

from nodeagent.server.requestlabels import RequestLabels, request_labels

JSON = "application/json"
APPLY = "application/apply-patch+yaml"


def labels(method: str, path: str, *, watch: bool = False, dry_run: tuple[str, ...] = (),
           content_type: str = JSON) -> tuple[str, ...]:  # fmt: skip
    got: RequestLabels = request_labels(
        method=method, path=path, watch=watch, dry_run=dry_run, content_type=content_type
    )
    return (got.verb, got.group, got.version, got.resource, got.subresource, got.scope,
            got.dry_run)  # fmt: skip


DS = "/apis/apps/v1/namespaces/ns/daemonsets"


@pytest.mark.parametrize(
    ("request_args", "expected"),
    [
        pytest.param(("GET", f"{DS}/a"), ("GET", "apps", "v1", "daemonsets", "", "resource", ""),
                     id="get"),
        pytest.param(("GET", DS), ("LIST", "apps", "v1", "daemonsets", "", "namespace", ""),
                     id="list-namespace"),
        pytest.param(("GET", "/api/v1/pods"), ("LIST", "", "v1", "pods", "", "cluster", ""),
                     id="list-cluster"),
        pytest.param(("POST", DS), ("POST", "apps", "v1", "daemonsets", "", "resource", ""),
                     id="create-is-resource-scope"),
        pytest.param(("PUT", "/api/v1/namespaces/ns/pods/p/status"),
                     ("PUT", "", "v1", "pods", "status", "resource", ""), id="status"),
        pytest.param(("DELETE", DS), ("DELETE", "apps", "v1", "daemonsets", "", "namespace", ""),
                     id="deletecollection"),
        pytest.param(("GET", "/api/v1/namespaces/default"),
                     ("GET", "", "v1", "namespaces", "", "resource", ""), id="a-namespace"),
        pytest.param(("POST", "/api/v1/namespaces/ns/pods/p/exec"),
                     ("CONNECT", "", "v1", "pods", "exec", "resource", ""), id="exec"),
        pytest.param(("GET", "/api/v1/namespaces/ns/pods/p/log"),
                     ("GET", "", "v1", "pods", "log", "resource", ""), id="log"),
        pytest.param(("GET", "/healthz"), ("GET", "", "", "", "", "", ""), id="non-resource"),
        pytest.param(("GET", "/api/v1/nosuchthings/x"), ("GET", "", "", "", "", "", ""),
                     id="unknown-resource-not-a-label"),
        pytest.param(("GET", "/api/v1/namespaces/ns/pods/p/whatever"),
                     ("GET", "", "", "", "", "", ""), id="unknown-subresource-not-a-label"),
        pytest.param(("BREW", DS), ("other", "apps", "v1", "daemonsets", "", "namespace", ""),
                     id="unknown-method"),
    ],
)  # fmt: skip
def test_labels(request_args: tuple[str, str], expected: tuple[str, ...]) -> None:
    """Verb, group, version, resource, subresource and scope of each kind of request."""
    assert labels(*request_args) == expected


def test_watch_apply_and_dry_run() -> None:
    """A LIST with watch is WATCH; an apply patch is APPLY; dryRun=All is the label All."""
    assert labels("GET", DS, watch=True)[0] == "WATCH"
    assert labels("PATCH", f"{DS}/a", content_type=APPLY)[0] == "APPLY"
    assert labels("PATCH", f"{DS}/a", dry_run=("All",))[-1] == "All"
    assert labels("PATCH", f"{DS}/a", dry_run=("Some",))[-1] == "invalid"
