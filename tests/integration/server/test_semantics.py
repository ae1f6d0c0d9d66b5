"""The API server's write rules: generation, status subresource, CAS, validation, patches."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import aiohttp
import pytest

from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo

DS = "/apis/apps/v1/namespaces/default/daemonsets"


async def _ds(admin: aiohttp.ClientSession, server: ServerInfo, name: str = "ds") -> Any:
    status, ds = await call(admin, server, "POST", DS, objects.daemonset(name))
    assert status == 201, ds
    return ds


async def test_generation_bumps_on_spec_changes_only(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """A label change keeps generation; a template change adds one."""
    ds = await _ds(admin, server)
    ds["metadata"]["labels"] = {"x": "y"}
    _, ds = await call(admin, server, "PUT", f"{DS}/ds", ds)
    assert ds["metadata"]["generation"] == 1
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    _, ds = await call(admin, server, "PUT", f"{DS}/ds", ds)
    assert ds["metadata"]["generation"] == 2


async def test_status_subresource_isolation(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """PUT on the object keeps the stored status; PUT on /status changes only the status."""
    ds = await _ds(admin, server)
    ds["status"]["numberReady"] = 7
    _, after = await call(admin, server, "PUT", f"{DS}/ds", ds)
    assert after["status"]["numberReady"] == 0

    after["status"]["numberReady"] = 3
    after["spec"]["template"]["spec"]["containers"][0]["image"] = "ignored"
    status, after2 = await call(admin, server, "PUT", f"{DS}/ds/status", after)
    assert status == 200, after2
    assert after2["status"]["numberReady"] == 3
    assert after2["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    assert after2["metadata"]["generation"] == 1


async def test_stale_resource_version_is_a_conflict(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """An update carrying an old resourceVersion is 409 with Kubernetes' message."""
    ds = await _ds(admin, server, "fluentd")
    fresh = json.loads(json.dumps(ds))
    fresh["metadata"]["labels"] = {"a": "b"}
    status, _ = await call(admin, server, "PUT", f"{DS}/fluentd", fresh)
    assert status == 200
    ds["metadata"]["labels"] = {"a": "c"}
    status, body = await call(admin, server, "PUT", f"{DS}/fluentd", ds)
    assert (status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on daemonsets.apps "fluentd": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    _, stored = await call(admin, server, "GET", f"{DS}/fluentd")
    assert stored["metadata"]["labels"] == {"a": "b"}


async def test_missing_name_is_invalid(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """422 Invalid with a cause naming metadata.name; nothing is stored."""
    obj = objects.daemonset("x")
    del obj["metadata"]["name"]
    status, body = await call(admin, server, "POST", DS, obj)
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    _, listed = await call(admin, server, "GET", DS)
    assert listed["items"] == []


@pytest.mark.skipif(
    importlib.util.find_spec("nodeagent.api.validation") is None,
    reason="the API core's validation is not built yet",
)
async def test_invalid_update_changes_nothing(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """An update without a container image is 422 with the field path; the old object stays."""
    ds = await _ds(admin, server, "bad")
    del ds["spec"]["template"]["spec"]["containers"][0]["image"]
    status, body = await call(admin, server, "PUT", f"{DS}/bad", ds)
    assert (status, body["reason"]) == (422, "Invalid")
    fields = [c["field"] for c in body["details"]["causes"]]
    assert "spec.template.spec.containers[0].image" in fields
    assert body["message"].startswith('DaemonSet.apps "bad" is invalid: ')
    _, stored = await call(admin, server, "GET", f"{DS}/bad")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/merge-patch+json", {"metadata": {"labels": {"disktype": "ssd"}}}),
        ("application/strategic-merge-patch+json", {"metadata": {"labels": {"disktype": "ssd"}}}),
        (
            "application/json-patch+json",
            [{"op": "add", "path": "/metadata/labels", "value": {"disktype": "ssd"}}],
        ),
    ],
    ids=["merge", "strategic", "json"],
)
async def test_patch_kinds(
    server: ServerInfo, admin: aiohttp.ClientSession, content_type: str, body: Any
) -> None:
    """Each patch type labels a node, as `kubectl label node` does."""
    await call(admin, server, "POST", "/api/v1/nodes", objects.node("n1"))
    status, node = await call(
        admin, server, "PATCH", "/api/v1/nodes/n1", body, content_type=content_type
    )
    assert status == 200, node
    assert node["metadata"]["labels"]["disktype"] == "ssd"


async def test_strategic_patch_of_a_container_image(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """kubectl apply's SMP body changes the image and bumps generation."""
    await _ds(admin, server, "f")
    body = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "c"}],
                    "containers": [{"image": "busybox:new", "name": "c"}],
                }
            }
        }
    }
    ct = "application/strategic-merge-patch+json"
    status, ds = await call(admin, server, "PATCH", f"{DS}/f", body, content_type=ct)
    assert status == 200, ds
    containers = ds["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("c", "busybox:new")]
    assert ds["metadata"]["generation"] == 2


async def test_server_side_apply_creates_then_merges(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """apply-patch+yaml creates an absent object (201), then merges into it (200)."""
    ct = "application/apply-patch+yaml"
    path = f"{DS}/ssa?fieldManager=kubectl&force=false"
    obj = objects.daemonset("ssa")
    status, created = await call(admin, server, "PATCH", path, obj, content_type=ct)
    assert status == 201, created
    obj["metadata"]["labels"] = {"applied": "again"}
    status, merged = await call(admin, server, "PATCH", path, obj, content_type=ct)
    assert status == 200, merged
    assert merged["metadata"]["labels"] == {"applied": "again"}
    assert merged["metadata"]["uid"] == created["metadata"]["uid"]


async def test_patch_with_unknown_media_type(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    await call(admin, server, "POST", "/api/v1/nodes", objects.node("n1"))
    status, body = await call(admin, server, "PATCH", "/api/v1/nodes/n1", {}, content_type="text/x")
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")


@pytest.mark.skipif(
    importlib.util.find_spec("nodeagent.api.schema") is None,
    reason="the field schema is not built yet",
)
async def test_field_validation_strict_and_warn(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """Strict: 400 naming the unknown field, nothing stored. Warn: 201 with a Warning header."""
    obj = objects.daemonset("typo")
    obj["spec"]["replicas"] = 3
    status, body = await call(admin, server, "POST", f"{DS}?fieldValidation=Strict", obj)
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == 'strict decoding error: unknown field "spec.replicas"'
    async with admin.post(server.url + f"{DS}?fieldValidation=Warn", json=obj) as r:
        assert r.status == 201
        assert r.headers.getall("Warning") == ['299 - "unknown field \\"spec.replicas\\""']


async def test_daemonset_status_keeps_required_counters(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """A status write that leaves counters out still answers them (as 0)."""
    ds = await _ds(admin, server, "counters")
    ds["status"] = {"observedGeneration": 1, "numberReady": 2}
    status, after = await call(admin, server, "PUT", f"{DS}/counters/status", ds)
    assert status == 200, after
    assert after["status"] == {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 2,
        "observedGeneration": 1,
    }
