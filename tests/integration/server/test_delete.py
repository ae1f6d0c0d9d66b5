"""Deleting: graceful pod deletion confirmed by the node, and cascades from a DaemonSet."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo
from tests.support.wait import wait_for

PODS = "/api/v1/namespaces/default/pods"
DS = "/apis/apps/v1/namespaces/default/daemonsets"


async def _ds_with_pods(
    admin: aiohttp.ClientSession, server: ServerInfo, *, nodes: tuple[str, ...] = ("", "")
) -> Any:
    _, ds = await call(admin, server, "POST", DS, objects.daemonset("ds"))
    for i, node in enumerate(nodes):
        pod = objects.owned_by(objects.pod(f"ds-{i}", node=node, labels={"app": "ds"}), ds)
        status, body = await call(admin, server, "POST", PODS, pod)
        assert status == 201, body
    return ds


async def _pod_names(admin: aiohttp.ClientSession, server: ServerInfo) -> list[str]:
    _, body = await call(admin, server, "GET", PODS)
    return sorted(i["metadata"]["name"] for i in body["items"])


async def _absent(admin: aiohttp.ClientSession, server: ServerInfo, path: str) -> bool:
    status, _ = await call(admin, server, "GET", path)
    return status == 404


async def test_background_delete_removes_owner_then_pods(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """propagationPolicy Background: the DaemonSet goes at once, its pods soon after."""
    await _ds_with_pods(admin, server)
    status, _ = await call(admin, server, "DELETE", f"{DS}/ds", {"propagationPolicy": "Background"})
    assert status == 200
    assert await _absent(admin, server, f"{DS}/ds")
    await wait_for(
        lambda: _empty(admin, server), timeout=10, message="the DaemonSet's pods are collected"
    )


async def _empty(admin: aiohttp.ClientSession, server: ServerInfo) -> bool:
    return await _pod_names(admin, server) == []


async def test_foreground_delete_waits_for_pods(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """Foreground: the owner stays (finalizer) until its pods are gone; the node confirms them."""
    await _ds_with_pods(admin, server, nodes=("n1",))
    status, ds = await call(
        admin, server, "DELETE", f"{DS}/ds", {"propagationPolicy": "Foreground"}
    )
    assert status == 200
    assert ds["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert ds["metadata"]["deletionTimestamp"]

    async def pod_terminating() -> bool:
        _, pod = await call(admin, server, "GET", f"{PODS}/ds-0")
        return bool(pod["metadata"].get("deletionTimestamp"))

    await wait_for(pod_terminating, timeout=10, message="the pod is terminating")
    _, still = await call(admin, server, "GET", f"{DS}/ds")
    assert still["metadata"]["deletionTimestamp"]

    async with server.session(server.node_token("n1")) as node:
        status, _ = await call(node, server, "DELETE", f"{PODS}/ds-0", {"gracePeriodSeconds": 0})
        assert status == 200
    await wait_for(
        lambda: _absent(admin, server, f"{DS}/ds"), timeout=10, message="the DaemonSet goes"
    )


async def test_orphan_delete_keeps_pods(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """Orphan: the DaemonSet goes, its pods stay without the ownerReference."""
    await _ds_with_pods(admin, server)
    status, _ = await call(admin, server, "DELETE", f"{DS}/ds", {"propagationPolicy": "Orphan"})
    assert status == 200
    await wait_for(
        lambda: _absent(admin, server, f"{DS}/ds"), timeout=10, message="the DaemonSet goes"
    )
    _, body = await call(admin, server, "GET", PODS)
    assert sorted(i["metadata"]["name"] for i in body["items"]) == ["ds-0", "ds-1"]
    assert all("ownerReferences" not in i["metadata"] for i in body["items"])


async def test_bound_pod_is_deleted_gracefully(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """A pod on a node gets deletionTimestamp and stays until its node deletes it with grace 0."""
    await call(admin, server, "POST", PODS, objects.pod("web", node="n1"))
    status, pod = await call(admin, server, "DELETE", f"{PODS}/web", {"gracePeriodSeconds": 5})
    assert status == 200
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 5
    assert pod["metadata"]["deletionTimestamp"]
    status, pod = await call(admin, server, "GET", f"{PODS}/web")
    assert status == 200
    async with server.session(server.node_token("n1")) as node:
        status, _ = await call(node, server, "DELETE", f"{PODS}/web", {"gracePeriodSeconds": 0})
        assert status == 200
    assert await _absent(admin, server, f"{PODS}/web")


async def test_unbound_pod_goes_at_once(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    await call(admin, server, "POST", PODS, objects.pod("loose"))
    status, _ = await call(admin, server, "DELETE", f"{PODS}/loose")
    assert status == 200
    assert await _absent(admin, server, f"{PODS}/loose")


async def test_delete_preconditions(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """A uid precondition that does not match is 409 and deletes nothing."""
    await call(admin, server, "POST", PODS, objects.pod("keep"))
    body = {"preconditions": {"uid": "not-the-uid"}}
    status, answer = await call(admin, server, "DELETE", f"{PODS}/keep", body)
    assert (status, answer["reason"]) == (409, "Conflict")
    assert answer["message"].startswith("Precondition failed: UID in precondition: not-the-uid")
    status, _ = await call(admin, server, "GET", f"{PODS}/keep")
    assert status == 200


async def test_namespace_delete_empties_it(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """Deleting a namespace deletes what is in it, then the namespace; default is protected."""
    await call(admin, server, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
    await call(
        admin, server, "POST", "/api/v1/namespaces/team/pods", objects.pod("p", namespace="team")
    )
    status, ns = await call(admin, server, "DELETE", "/api/v1/namespaces/team")
    assert status == 200
    assert ns["status"]["phase"] == "Terminating"
    await wait_for(
        lambda: _absent(admin, server, "/api/v1/namespaces/team"),
        timeout=10,
        message="the namespace goes",
    )
    assert await _absent(admin, server, "/api/v1/namespaces/team/pods/p")
    status, body = await call(admin, server, "DELETE", "/api/v1/namespaces/default")
    assert (status, body["reason"]) == (403, "Forbidden")
