"""Create, read, update, list and delete every kind over HTTPS, with Kubernetes' answers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo
from tests.support.wait import wait_for

KINDS = [
    ("/api/v1/namespaces/default/pods", objects.pod("p1")),
    ("/apis/apps/v1/namespaces/default/daemonsets", objects.daemonset("ds1")),
    ("/api/v1/nodes", objects.node("n1")),
    ("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", objects.lease("n1")),
    ("/apis/apps/v1/namespaces/default/controllerrevisions", objects.controllerrevision("cr1")),
    (
        "/api/v1/namespaces/default/events",
        objects.event("e1", {"kind": "Pod", "metadata": {"name": "p1", "namespace": "default"}}),
    ),
    ("/api/v1/namespaces", {"metadata": {"name": "team-a"}}),
    (
        "/api/v1/namespaces/default/configmaps",
        {"kind": "ConfigMap", "metadata": {"name": "cm1"}, "data": {"a.conf": "x"}},
    ),
    (
        "/api/v1/namespaces/default/secrets",
        {"kind": "Secret", "metadata": {"name": "s1"}, "stringData": {"password": "pw"}},
    ),
]


@pytest.mark.parametrize(
    ("collection", "obj"),
    KINDS,
    ids=[k[1].get("kind", "Namespace") for k in KINDS],
)
async def test_every_kind_round_trips(
    server: ServerInfo, admin: aiohttp.ClientSession, collection: str, obj: dict[str, object]
) -> None:
    """POST gives 201 with uid, rv and creationTimestamp; GET, PUT, list and DELETE work."""
    status, created = await call(admin, server, "POST", collection, obj)
    assert status == 201, created
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["resourceVersion"]
    assert meta["creationTimestamp"]
    name = meta["name"]

    status, got = await call(admin, server, "GET", f"{collection}/{name}")
    assert (status, got["metadata"]["uid"]) == (200, meta["uid"])

    got["metadata"].setdefault("labels", {})["touched"] = "yes"
    status, updated = await call(admin, server, "PUT", f"{collection}/{name}", got)
    assert status == 200, updated
    assert updated["metadata"]["labels"]["touched"] == "yes"
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    status, listed = await call(admin, server, "GET", collection)
    assert status == 200
    assert name in [i["metadata"]["name"] for i in listed["items"]]
    assert listed["kind"].endswith("List")
    assert listed["metadata"]["resourceVersion"]

    status, _ = await call(admin, server, "DELETE", f"{collection}/{name}")
    assert status == 200

    async def gone() -> Any:
        status, body = await call(admin, server, "GET", f"{collection}/{name}")
        return body if status == 404 else None

    # a namespace goes once it is empty (asynchronously, as in Kubernetes)
    body = await wait_for(gone, timeout=10, message=f"{name} is deleted")
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"


async def test_list_across_namespaces(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """/api/v1/pods lists pods of every namespace; a namespaced list only its own."""
    await call(
        admin,
        server,
        "POST",
        "/api/v1/namespaces/kube-system/pods",
        objects.pod("a", namespace="kube-system"),
    )
    await call(admin, server, "POST", "/api/v1/namespaces/default/pods", objects.pod("b"))
    _, everything = await call(admin, server, "GET", "/api/v1/pods")
    assert sorted(i["metadata"]["name"] for i in everything["items"]) == ["a", "b"]
    _, system = await call(admin, server, "GET", "/api/v1/namespaces/kube-system/pods")
    assert [i["metadata"]["name"] for i in system["items"]] == ["a"]


async def test_not_found_and_already_exists_messages(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """404 and 409 carry the messages kubectl prints."""
    status, body = await call(
        admin, server, "GET", "/apis/apps/v1/namespaces/default/daemonsets/nosuch"
    )
    assert status == 404
    assert body["message"] == 'daemonsets.apps "nosuch" not found'
    assert body["details"] == {"name": "nosuch", "group": "apps", "kind": "daemonsets"}
    path = "/apis/apps/v1/namespaces/default/daemonsets"
    await call(admin, server, "POST", path, objects.daemonset("twice"))
    status, body = await call(admin, server, "POST", path, objects.daemonset("twice"))
    assert (status, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'daemonsets.apps "twice" already exists'


async def test_namespace_must_exist(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """Creating in a namespace that does not exist is 404 `namespaces "x" not found`."""
    status, body = await call(
        admin,
        server,
        "POST",
        "/api/v1/namespaces/nowhere/pods",
        objects.pod("p", namespace="nowhere"),
    )
    assert status == 404
    assert body["message"] == 'namespaces "nowhere" not found'


async def test_initial_namespaces_exist(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    _, body = await call(admin, server, "GET", "/api/v1/namespaces")
    names = {i["metadata"]["name"] for i in body["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


async def test_generate_name(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """generateName gets a five-character suffix, and each create a new name."""
    obj = objects.pod("")
    del obj["metadata"]["name"]
    obj["metadata"]["generateName"] = "web-"
    names = set()
    for _ in range(3):
        status, created = await call(admin, server, "POST", "/api/v1/namespaces/default/pods", obj)
        assert status == 201
        name = created["metadata"]["name"]
        assert name.startswith("web-")
        assert len(name) == len("web-") + 5
        names.add(name)
    assert len(names) == 3


async def test_daemonset_status_has_zero_counters(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """A new DaemonSet has the status counters clients require, at 0, and generation 1."""
    _, ds = await call(
        admin, server, "POST", "/apis/apps/v1/namespaces/default/daemonsets", objects.daemonset("z")
    )
    assert ds["status"] == {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    }
    assert ds["metadata"]["generation"] == 1


async def test_unknown_path_and_method(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """Unknown paths are a 404 Status; a verb the path does not take is a 405 Status."""
    status, body = await call(admin, server, "GET", "/api/v1/nosuchthings")
    assert (status, body["kind"]) == (404, "Status")
    status, body = await call(admin, server, "POST", "/api/v1/pods", objects.pod("x"))
    assert (status, body["reason"]) == (405, "MethodNotAllowed")


async def test_too_large_body(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """A body over 3 MiB is 413 RequestEntityTooLarge."""
    obj = objects.pod("big")
    obj["metadata"]["annotations"] = {"x": "a" * (3 * 1024 * 1024 + 10)}
    status, body = await call(admin, server, "POST", "/api/v1/namespaces/default/pods", obj)
    assert (status, body["reason"]) == (413, "RequestEntityTooLarge")


async def test_yaml_body_and_bad_json(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """A YAML body is accepted; a broken JSON body is 400 BadRequest."""
    yaml_body = b"apiVersion: v1\nkind: Node\nmetadata:\n  name: from-yaml\n"
    status, _ = await call(
        admin, server, "POST", "/api/v1/nodes", yaml_body, content_type="application/yaml"
    )
    assert status == 201
    status, body = await call(admin, server, "POST", "/api/v1/nodes", b"{not json")
    assert (status, body["reason"]) == (400, "BadRequest")


async def test_delete_collection(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """DELETE on a collection removes what the label selector picks, and nothing else."""
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        await call(
            admin,
            server,
            "POST",
            "/api/v1/namespaces/default/pods",
            objects.pod(name, labels={"tier": tier}),
        )
    status, _ = await call(
        admin, server, "DELETE", "/api/v1/namespaces/default/pods?labelSelector=tier%3Dweb"
    )
    assert status == 200
    _, left = await call(admin, server, "GET", "/api/v1/namespaces/default/pods")
    assert [i["metadata"]["name"] for i in left["items"]] == ["c"]
