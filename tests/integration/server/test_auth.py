"""Who may do what: no token is 401; a node token reaches only its own node's objects."""

from __future__ import annotations

import aiohttp

from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo

PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"


async def test_no_token_is_401(server: ServerInfo) -> None:
    async with server.session(token=None) as anonymous:
        status, body = await call(anonymous, server, "GET", PODS)
        assert (status, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")
        async with anonymous.get(server.url + "/healthz") as r:
            assert r.status == 200


async def test_wrong_token_is_401(server: ServerInfo) -> None:
    async with server.session(token="node.n1.forged") as forged:
        status, _ = await call(forged, server, "GET", PODS)
        assert status == 401


async def test_node_reads_only_its_own_pods(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """n1 gets and lists its pods (with the nodeName selector); n2's pod is 403."""
    await call(admin, server, "POST", PODS, objects.pod("mine", node="n1"))
    await call(admin, server, "POST", PODS, objects.pod("theirs", node="n2"))
    async with server.session(server.node_token("n1")) as n1:
        status, _ = await call(n1, server, "GET", f"{PODS}/mine")
        assert status == 200
        status, body = await call(n1, server, "GET", f"{PODS}/theirs")
        assert (status, body["reason"]) == (403, "Forbidden")
        assert body["message"] == (
            'pods "theirs" is forbidden: User "system:node:n1" cannot get resource "pods" '
            'in API group "" in the namespace "default": no relationship found between node '
            "'n1' and this object"
        )
        status, listed = await call(
            n1, server, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1"
        )
        assert status == 200
        assert [i["metadata"]["name"] for i in listed["items"]] == ["mine"]
        status, _ = await call(n1, server, "GET", "/api/v1/pods")
        assert status == 403
        status, _ = await call(n1, server, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn2")
        assert status == 403
        status, _ = await call(n1, server, "GET", "/api/v1/pods?watch=true")
        assert status == 403


async def test_node_writes_its_own_node_lease_and_pod_status(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    await call(admin, server, "POST", PODS, objects.pod("mine", node="n1"))
    await call(admin, server, "POST", "/api/v1/nodes", objects.node("n2"))
    async with server.session(server.node_token("n1")) as n1:
        status, node = await call(n1, server, "POST", "/api/v1/nodes", objects.node("n1"))
        assert status == 201, node
        node["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
        status, _ = await call(n1, server, "PUT", "/api/v1/nodes/n1/status", node)
        assert status == 200
        status, _ = await call(
            n1,
            server,
            "PATCH",
            "/api/v1/nodes/n2",
            {"metadata": {"labels": {"x": "y"}}},
            content_type="application/merge-patch+json",
        )
        assert status == 403
        status, _ = await call(n1, server, "POST", LEASES, objects.lease("n1"))
        assert status == 201
        status, _ = await call(n1, server, "POST", LEASES, objects.lease("n2"))
        assert status == 403
        status, pod = await call(n1, server, "GET", f"{PODS}/mine")
        pod["status"] = {"phase": "Running"}
        status, after = await call(n1, server, "PUT", f"{PODS}/mine/status", pod)
        assert (status, after["status"]["phase"]) == (200, "Running")
        status, _ = await call(n1, server, "PUT", f"{PODS}/mine", pod)
        assert status == 403
        status, _ = await call(n1, server, "GET", "/apis/apps/v1/daemonsets")
        assert status == 403


async def test_node_creates_only_its_own_mirror_pods(server: ServerInfo) -> None:
    """A mirror pod bound to the node and owned by its Node (test_noderestriction.py has
    every other row)."""
    mirror = {"kubernetes.io/config.mirror": "abc"}
    async with server.session(server.node_token("n1")) as n1:
        status, node = await call(n1, server, "POST", "/api/v1/nodes", objects.node("n1"))
        assert status == 201, node
        owner = {"apiVersion": "v1", "kind": "Node", "name": "n1", "controller": True}
        owner["uid"] = node["metadata"]["uid"]
        static = objects.pod("static-n1", node="n1", annotations=mirror, ownerReferences=[owner])
        status, body = await call(n1, server, "POST", PODS, static)
        assert status == 201, body
        status, _ = await call(n1, server, "POST", PODS, objects.pod("plain", node="n1"))
        assert status == 403
        status, _ = await call(
            n1, server, "POST", PODS, objects.pod("static-n2", node="n2", annotations=mirror)
        )
        assert status == 403
