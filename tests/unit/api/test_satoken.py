"""Projected ServiceAccount tokens: the TokenRequest a source asks for, and when it is asked
again."""

from __future__ import annotations

import pytest

from nodeagent.api import satoken as T
from nodeagent.api.bodies import Obj
from nodeagent.api.projection import FileProjection, ReferenceFailure, volume_files
from nodeagent.api.timefmt import format_time

POD: Obj = {
    "metadata": {"name": "npd-x", "namespace": "kube-system", "uid": "u-9"},
    "spec": {"serviceAccountName": "npd", "containers": [{"name": "c"}]},
}
NAMESPACE_SOURCE: Obj = {
    "downwardAPI": {
        "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
    }
}
CA_SOURCE: Obj = {
    "configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
}
VOLUME: Obj = {
    "name": "kube-api-access-abcde",
    "projected": {
        "defaultMode": 0o644,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            CA_SOURCE,
            NAMESPACE_SOURCE,
        ],
    },
}  # fmt: skip


def test_request_is_bound_to_the_pod() -> None:
    """The pod's ServiceAccount, the source's expiry, no audience (the server's), the pod's
    name and uid as boundObjectRef; a pod naming none is `default`."""
    spec = T.token_spec(POD, {"expirationSeconds": 3607, "path": "token"})
    assert spec.path == "/api/v1/namespaces/kube-system/serviceaccounts/npd/token"
    assert T.request_body(spec) == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [],
            "expirationSeconds": 3607,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "npd-x", "uid": "u-9"},
        },
    }
    other = T.token_spec({"metadata": {"name": "p"}, "spec": {}}, {"audience": "vault"})
    assert (other.service_account, other.namespace, other.expiration_seconds) == (
        "default",
        "default",
        3600,
    )
    assert T.request_body(other)["spec"]["audiences"] == ["vault"]


def test_kube_api_access_volume_files() -> None:
    """token (the volume's defaultMode), ca.crt and namespace side by side in one volume."""
    spec = T.token_spec(POD, {"expirationSeconds": 3607, "path": "token"})
    objects = {("ConfigMap", "kube-system", "kube-root-ca.crt"): {"ca.crt": b"PEM"}}
    files = volume_files(POD, VOLUME, objects, allocatable={}, tokens={spec: "tok"})
    assert files == {
        "token": FileProjection(data=b"tok", mode=0o644),
        "ca.crt": FileProjection(data=b"PEM", mode=0o644),
        "namespace": FileProjection(data=b"kube-system", mode=0o644),
    }
    with pytest.raises(ReferenceFailure, match="failed to fetch token"):
        volume_files(POD, VOLUME, objects, allocatable={}, tokens={})


def test_token_file_owned_by_the_pods_user() -> None:
    """runAsUser on every container: 0600 owned by that user; with fsGroup 0640 and its group
    (kubelet's FsUser and SetVolumeOwnership), so a non-root container can read its token."""
    volume = {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
    pod = {**POD, "spec": {**POD["spec"], "securityContext": {"runAsUser": 1000}}}
    spec = T.token_spec(pod, {"path": "token"})
    files = volume_files(pod, volume, {}, allocatable={}, tokens={spec: "tok"})
    assert files["token"] == FileProjection(data=b"tok", mode=0o600, uid=1000, gid=-1)
    pod["spec"]["securityContext"]["fsGroup"] = 2000
    files = volume_files(pod, volume, {}, allocatable={}, tokens={spec: "tok"})
    assert files["token"] == FileProjection(data=b"tok", mode=0o640, uid=1000, gid=2000)


def test_refresh_at_80_percent_or_24_hours() -> None:
    """An hour's token is fetched again after 48 min, a week's after 24 h, each earlier by its
    jitter (up to 10 s)."""
    assert T.refresh_time(issued_at=0, expires_at=3600, jitter=0) == 2880
    assert T.refresh_time(issued_at=0, expires_at=3600, jitter=0.5) == 2875
    assert T.refresh_time(issued_at=0, expires_at=7 * 86400, jitter=0) == 86400
    answer = {"status": {"token": "t", "expirationTimestamp": format_time(1_000_600)}}
    held = T.issued_token(answer, now=1_000_000, jitter=0)
    assert held == T.IssuedToken(token="t", expires_at=1_000_600, refresh_at=1_000_480)
    assert not T.needs_fetch(held, now=1_000_479)
    assert T.needs_fetch(held, now=1_000_480)
    assert not T.expired(held, now=1_000_599)
    assert T.expired(held, now=1_000_600)


def test_answer_without_token_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"status\.token"):
        T.issued_token({"status": {}}, now=0, jitter=0)


def test_retry_back_off_doubles_to_its_cap() -> None:
    """0.5 s, 1 s, 2 s ... never more than 122 s after a failure."""
    state = None
    delays = []
    for _ in range(10):
        state = T.after_failure(state, now=100.0, error="e")
        delays.append(state.next_at - 100.0)
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays[-1] == 122.0
