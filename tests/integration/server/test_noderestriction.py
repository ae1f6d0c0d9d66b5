"""Node authorizer + NodeRestriction, row by row: node-a's real credentials over HTTPS against
its own objects and node-b's, each answered with kube-apiserver's status, reason and message.

Each row runs on a fresh server holding: Node node-b (admin-made), Node node-a registered by
node-a itself with a --taint (then an admin adds a taint and a node-role label to it), pods
web-a on node-a and web-b on node-b, node-b's lease and an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from nodeagent.api.bodies import Obj
from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo

PODS = "/api/v1/namespaces/default/pods"
NODES = "/api/v1/nodes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
EVENTS = "/api/v1/namespaces/default/events"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
ADMIN_TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
OWN_TAINT = {"key": "registered", "value": "yes", "effect": "NoSchedule"}
USER = 'User "system:node:node-a"'


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    id: str
    method: str
    path: str
    code: int
    message: str = ""  # exact; {uid_a} is node-a's uid; "" for a success
    body: Any = None  # or a function of the Setup (for bodies that need uids or versions)
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    node_a: Obj
    node_b: Obj
    web_a: Obj
    web_b: Obj


def mirror(name: str, owners: list[Obj], *, node: str = "node-a", **spec: Any) -> Obj:
    pod = objects.pod(
        name,
        node=node,
        annotations={"kubernetes.io/config.mirror": "hash"},
        ownerReferences=owners,
    )
    pod["spec"].update(spec)
    return pod


def owner(node: Obj, **extra: Any) -> Obj:
    meta = node["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        **extra,
    }


def forbidden(subject: str, verb: str, resource: str, scope: str, reason: str = "") -> str:
    """The authorizer's message (plugin/pkg/auth/authorizer/node with selectors)."""
    group = "coordination.k8s.io" if resource == "leases" else ""
    where = f'in the namespace "{scope}"' if scope else "at the cluster scope"
    text = f'{subject} is forbidden: {USER} cannot {verb} resource "{resource}" in API group '
    return text + f'"{group}" {where}' + (f": {reason}" if reason else "")


NO_RELATION = "no relationship found between node 'node-a' and this object"
LIST_PODS = "can only list/watch pods with spec.nodeName field selector"
LEASE_NAME = "can only access node lease with the same name as the requesting node"

ROWS: tuple[Row, ...] = (
    # ---- its own Node and other Nodes
    Row(id="get own node", method="GET", path=f"{NODES}/node-a", code=200),
    Row(
        id="get another node",
        method="GET",
        path=f"{NODES}/node-b",
        code=403,
        message=forbidden(
            'nodes "node-b"',
            "get",
            "nodes",
            "",
            "node 'node-a' cannot read 'node-b', only its own Node object",
        ),
    ),
    Row(
        id="get a node that does not exist",
        method="GET",
        path=f"{NODES}/ghost",
        code=403,
        message=forbidden(
            'nodes "ghost"',
            "get",
            "nodes",
            "",
            "node 'node-a' cannot read 'ghost', only its own Node object",
        ),
    ),
    Row(
        id="list nodes",
        method="GET",
        path=NODES,
        code=403,
        message=forbidden(
            "nodes",
            "list",
            "nodes",
            "",
            "node 'node-a' cannot read all nodes, only its own Node object",
        ),
    ),
    Row(
        id="list own node by name",
        method="GET",
        path=f"{NODES}?fieldSelector=metadata.name%3Dnode-a",
        code=200,
    ),
    Row(
        id="register another name",
        method="POST",
        path=NODES,
        body=objects.node("rogue"),
        code=403,
        message='nodes "rogue" is forbidden: node "node-a" is not allowed to modify node "rogue"',
    ),
    Row(
        id="patch another node",
        method="PATCH",
        path=f"{NODES}/node-b",
        body={"metadata": {"labels": {"foo": "bar"}}},
        content_type=MERGE,
        code=403,
        message='nodes "node-b" is forbidden: node "node-a" is not allowed to modify node "node-b"',
    ),
    Row(
        id="update another node",
        method="PUT",
        path=f"{NODES}/node-b",
        body=objects.node("node-b", foo="bar"),
        code=403,
        message='nodes "node-b" is forbidden: node "node-a" is not allowed to modify node "node-b"',
    ),
    Row(
        id="status of another node",
        method="PATCH",
        path=f"{NODES}/node-b/status",
        body={"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        content_type=MERGE,
        code=403,
        message='nodes "node-b" is forbidden: node "node-a" is not allowed to modify node "node-b"',
    ),
    Row(
        id="delete another node",
        method="DELETE",
        path=f"{NODES}/node-b",
        code=403,
        message=forbidden('nodes "node-b"', "delete", "nodes", ""),
    ),
    Row(
        id="delete own node",
        method="DELETE",
        path=f"{NODES}/node-a",
        code=403,
        message=forbidden('nodes "node-a"', "delete", "nodes", ""),
    ),
    # ---- its own labels
    Row(
        id="label itself",
        method="PATCH",
        path=f"{NODES}/node-a",
        body={"metadata": {"labels": {"team": "db", "topology.kubernetes.io/zone": "z1"}}},
        content_type=MERGE,
        code=200,
    ),
    Row(
        id="add a node-role label",
        method="PATCH",
        path=f"{NODES}/node-a",
        body={"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}},
        content_type=MERGE,
        code=403,
        message='nodes "node-a" is forbidden: is not allowed to modify labels: '
        "node-role.kubernetes.io/control-plane",
    ),
    Row(
        id="add a node-restriction label",
        method="PATCH",
        path=f"{NODES}/node-a",
        body={"metadata": {"labels": {"node-restriction.kubernetes.io/pci": "true"}}},
        content_type=MERGE,
        code=403,
        message='nodes "node-a" is forbidden: is not allowed to modify labels: '
        "node-restriction.kubernetes.io/pci",
    ),
    Row(
        id="remove the admin's node-role label",
        method="PATCH",
        path=f"{NODES}/node-a",
        body={"metadata": {"labels": {"node-role.kubernetes.io/db": None}}},
        content_type=MERGE,
        code=403,
        message='nodes "node-a" is forbidden: is not allowed to modify labels: '
        "node-role.kubernetes.io/db",
    ),
    Row(
        id="node-role label by server-side apply",
        method="PATCH",
        path=f"{NODES}/node-a?fieldManager=intruder",
        body=b"apiVersion: v1\nkind: Node\nmetadata:\n  name: node-a\n  labels:\n"
        b"    node-role.kubernetes.io/worker: ''\n",
        content_type=APPLY,
        code=403,
        message='nodes "node-a" is forbidden: is not allowed to modify labels: '
        "node-role.kubernetes.io/worker",
    ),
    Row(
        id="node-role label through a status update",
        method="PUT",
        path=f"{NODES}/node-a/status",
        body=lambda s: {
            **s.node_a,
            "metadata": {
                **s.node_a["metadata"],
                "labels": {**s.node_a["metadata"]["labels"], "node-role.kubernetes.io/x": ""},
            },
        },
        code=403,
        message='nodes "node-a" is forbidden: is not allowed to modify labels: '
        "node-role.kubernetes.io/x",
    ),
    Row(
        id="register again with a node-role label",
        method="POST",
        path=NODES,
        body=objects.node("node-a", **{"node-role.kubernetes.io/x": ""}),
        code=403,
        message='nodes "node-a" is forbidden: node "node-a" is not allowed to set the following '
        "labels: node-role.kubernetes.io/x",
    ),
    # ---- its own taints, after registration
    Row(
        id="remove the admin's taint",
        method="PATCH",
        path=f"{NODES}/node-a",
        body={"spec": {"taints": [OWN_TAINT]}},
        content_type=MERGE,
        code=403,
        message='nodes "node-a" is forbidden: node "node-a" is not allowed to modify taints',
    ),
    Row(
        id="remove every taint by json patch",
        method="PATCH",
        path=f"{NODES}/node-a",
        body=[{"op": "remove", "path": "/spec/taints"}],
        content_type=JSON_PATCH,
        code=403,
        message='nodes "node-a" is forbidden: node "node-a" is not allowed to modify taints',
    ),
    Row(
        id="add a taint",
        method="PATCH",
        path=f"{NODES}/node-a",
        body={"spec": {"taints": [OWN_TAINT, ADMIN_TAINT, {"key": "x", "effect": "NoExecute"}]}},
        content_type=MERGE,
        code=403,
        message='nodes "node-a" is forbidden: node "node-a" is not allowed to modify taints',
    ),
    Row(
        id="own ownerReferences",
        method="PATCH",
        path=f"{NODES}/node-a",
        body={
            "metadata": {
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Namespace", "name": "gone", "uid": "u1"}
                ]
            }
        },
        content_type=MERGE,
        code=403,
        message='nodes "node-a" is forbidden: node "node-a" is not allowed to modify '
        "ownerReferences",
    ),
    Row(
        id="own status",
        method="PATCH",
        path=f"{NODES}/node-a/status",
        body={"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        content_type=MERGE,
        code=200,
    ),
    # ---- pods
    Row(id="get its pod", method="GET", path=f"{PODS}/web-a", code=200),
    Row(
        id="get another node's pod",
        method="GET",
        path=f"{PODS}/web-b",
        code=403,
        message=forbidden('pods "web-b"', "get", "pods", "default", NO_RELATION),
    ),
    Row(
        id="get a pod that does not exist",
        method="GET",
        path=f"{PODS}/ghost",
        code=403,
        message=forbidden('pods "ghost"', "get", "pods", "default", NO_RELATION),
    ),
    Row(
        id="list pods without the fieldSelector",
        method="GET",
        path="/api/v1/pods",
        code=403,
        message=forbidden("pods", "list", "pods", "", LIST_PODS),
    ),
    Row(
        id="list another node's pods",
        method="GET",
        path=f"{PODS}?fieldSelector=spec.nodeName%3Dnode-b",
        code=403,
        message=forbidden("pods", "list", "pods", "default", LIST_PODS),
    ),
    Row(
        id="watch pods without the fieldSelector",
        method="GET",
        path="/api/v1/pods?watch=true",
        code=403,
        message=forbidden("pods", "watch", "pods", "", LIST_PODS),
    ),
    Row(
        id="list its pods",
        method="GET",
        path="/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a",
        code=200,
    ),
    Row(
        id="list another node's pod by name",
        method="GET",
        path=f"{PODS}?fieldSelector=metadata.name%3Dweb-b",
        code=403,
        message=forbidden('pods "web-b"', "list", "pods", "default", NO_RELATION),
    ),
    Row(
        id="delete another node's pod",
        method="DELETE",
        path=f"{PODS}/web-b",
        code=403,
        message='pods "web-b" is forbidden: node "node-a" can only delete pods with '
        "spec.nodeName set to itself",
    ),
    Row(
        # kube-apiserver: NodeRestriction's lister answers NotFound, and so does the request
        id="delete a pod that does not exist",
        method="DELETE",
        path=f"{PODS}/ghost",
        code=404,
        message='pods "ghost" not found',
    ),
    Row(id="delete its pod", method="DELETE", path=f"{PODS}/web-a", code=200),
    Row(
        id="deletecollection of pods",
        method="DELETE",
        path=PODS,
        code=403,
        message=forbidden("pods", "deletecollection", "pods", "default"),
    ),
    Row(
        id="update another node's pod status",
        method="PUT",
        path=f"{PODS}/web-b/status",
        body=lambda s: {**s.web_b, "status": {"phase": "Failed"}},
        code=403,
        message='pods "web-b" is forbidden: node "node-a" can only update pod status for pods '
        "with spec.nodeName set to itself",
    ),
    Row(
        id="patch another node's pod status",
        method="PATCH",
        path=f"{PODS}/web-b/status",
        body={"status": {"phase": "Failed"}},
        content_type=MERGE,
        code=403,
        message='pods "web-b" is forbidden: node "node-a" can only update pod status for pods '
        "with spec.nodeName set to itself",
    ),
    Row(
        id="its pod's status",
        method="PATCH",
        path=f"{PODS}/web-a/status",
        body={"status": {"phase": "Running"}},
        content_type=MERGE,
        code=200,
    ),
    Row(
        id="labels through its pod's status",
        method="PATCH",
        path=f"{PODS}/web-a/status",
        body={"metadata": {"labels": {"app": "other"}}, "status": {"phase": "Running"}},
        content_type=MERGE,
        code=403,
        message='pods "web-a" is forbidden: node "node-a" cannot update labels through pod status',
    ),
    Row(
        id="read its pod's status subresource",
        method="GET",
        path=f"{PODS}/web-a/status",
        code=403,
        message=forbidden('pods "web-a"', "get", "pods/status", "default"),
    ),
    Row(
        id="patch its pod",
        method="PATCH",
        path=f"{PODS}/web-a",
        body={"metadata": {"labels": {"app": "other"}}},
        content_type=MERGE,
        code=403,
        message=forbidden('pods "web-a"', "patch", "pods", "default"),
    ),
    Row(
        id="logs of another node's pod",
        method="GET",
        path=f"{PODS}/web-b/log",
        code=403,
        message=forbidden('pods "web-b"', "get", "pods/log", "default"),
    ),
    # ---- mirror pods
    Row(
        id="mirror pod owned by its Node",
        method="POST",
        path=PODS,
        body=lambda s: mirror("static-a", [owner(s.node_a)]),
        code=201,
    ),
    Row(
        id="mirror pod owned by a DaemonSet",
        method="POST",
        path=PODS,
        body=lambda s: mirror(
            "static-a",
            [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "ds",
                    "uid": "3f1c",
                    "controller": True,
                }
            ],
        ),
        code=403,
        message='pods "static-a" is forbidden: node "node-a" can only create pods with an owner '
        "reference set to itself",
    ),
    Row(
        id="mirror pod without an owner",
        method="POST",
        path=PODS,
        body=mirror("static-a", []),
        code=403,
        message='pods "static-a" is forbidden: node "node-a" can only create pods with an owner '
        "reference set to itself",
    ),
    Row(
        id="mirror pod owned by another node",
        method="POST",
        path=PODS,
        body=lambda s: mirror("static-a", [owner(s.node_b)]),
        code=403,
        message='pods "static-a" is forbidden: node "node-a" can only create pods with an owner '
        "reference set to itself",
    ),
    Row(
        id="mirror pod owned by an old uid",
        method="POST",
        path=PODS,
        body=lambda s: mirror("static-a", [owner(s.node_a, uid="old-uid")]),
        code=403,
        message='pods "static-a" is forbidden: node node-a UID mismatch: expected old-uid got '
        "{uid_a}",
    ),
    Row(
        id="mirror pod bound to another node",
        method="POST",
        path=PODS,
        body=lambda s: mirror("static-b", [owner(s.node_a)], node="node-b"),
        code=403,
        message='pods "static-b" is forbidden: node "node-a" can only create pods with '
        "spec.nodeName set to itself",
    ),
    Row(
        id="mirror pod reading a secret",
        method="POST",
        path=PODS,
        body=lambda s: mirror(
            "static-a",
            [owner(s.node_a)],
            volumes=[{"name": "s", "secret": {"secretName": "db-password"}}],
        ),
        code=403,
        message='pods "static-a" is forbidden: node "node-a" can not create pods that reference '
        "secrets",
    ),
    Row(
        id="mirror pod with a service account",
        method="POST",
        path=PODS,
        body=lambda s: mirror("static-a", [owner(s.node_a)], serviceAccountName="admin"),
        code=403,
        message='pods "static-a" is forbidden: node "node-a" can not create pods that reference '
        "a service account",
    ),
    Row(
        id="a pod that is not a mirror pod",
        method="POST",
        path=PODS,
        body=objects.pod("plain", node="node-a"),
        code=403,
        message='pods "plain" is forbidden: pod does not have "kubernetes.io/config.mirror" '
        'annotation, node "node-a" can only create mirror pods',
    ),
    # ---- leases
    Row(id="create its lease", method="POST", path=LEASES, body=objects.lease("node-a"), code=201),
    Row(
        id="create another node's lease",
        method="POST",
        path=LEASES,
        body=objects.lease("node-b"),
        code=403,
        message=f'leases.coordination.k8s.io "node-b" is forbidden: {LEASE_NAME}',
    ),
    Row(
        id="get another node's lease",
        method="GET",
        path=f"{LEASES}/node-b",
        code=403,
        message=forbidden(
            'leases.coordination.k8s.io "node-b"', "get", "leases", "kube-node-lease", LEASE_NAME
        ),
    ),
    Row(
        id="renew another node's lease",
        method="PUT",
        path=f"{LEASES}/node-b",
        body=objects.lease("node-b"),
        code=403,
        message=forbidden(
            'leases.coordination.k8s.io "node-b"',
            "update",
            "leases",
            "kube-node-lease",
            LEASE_NAME,
        ),
    ),
    Row(
        id="delete another node's lease",
        method="DELETE",
        path=f"{LEASES}/node-b",
        code=403,
        message=forbidden(
            'leases.coordination.k8s.io "node-b"',
            "delete",
            "leases",
            "kube-node-lease",
            LEASE_NAME,
        ),
    ),
    Row(
        id="list leases",
        method="GET",
        path=LEASES,
        code=403,
        message=forbidden(
            "leases.coordination.k8s.io",
            "list",
            "leases",
            "kube-node-lease",
            "can only get, create, update, patch, or delete a node lease",
        ),
    ),
    Row(
        id="a lease in another namespace",
        method="POST",
        path="/apis/coordination.k8s.io/v1/namespaces/default/leases",
        body={**objects.lease("node-a"), "metadata": {"name": "node-a", "namespace": "default"}},
        code=403,
        message=forbidden(
            "leases.coordination.k8s.io",
            "create",
            "leases",
            "default",
            'can only access leases in the "kube-node-lease" system namespace',
        ),
    ),
    # ---- events and the rest
    Row(
        id="post an event",
        method="POST",
        path=EVENTS,
        body=lambda s: objects.event("web-a.started", s.web_a),
        code=201,
    ),
    Row(
        id="list events",
        method="GET",
        path=EVENTS,
        code=403,
        message=forbidden("events", "list", "events", "default"),
    ),
    Row(
        id="delete an event",
        method="DELETE",
        path=f"{EVENTS}/web-b.seen",
        code=403,
        message=forbidden('events "web-b.seen"', "delete", "events", "default"),
    ),
    Row(
        id="list daemonsets",
        method="GET",
        path="/apis/apps/v1/daemonsets",
        code=403,
        message='daemonsets.apps is forbidden: User "system:node:node-a" cannot list resource '
        '"daemonsets" in API group "apps" at the cluster scope',
    ),
    Row(
        id="get a namespace",
        method="GET",
        path="/api/v1/namespaces/default",
        code=403,
        message=forbidden('namespaces "default"', "get", "namespaces", ""),
    ),
    Row(id="list services", method="GET", path="/api/v1/namespaces/default/services", code=200),
)


async def _setup(server: ServerInfo, admin: aiohttp.ClientSession) -> Setup:
    """node-b and its pod by the admin; node-a registered by itself with a taint, then tainted
    and labelled by the admin; pods, node-b's lease and an event."""
    status, node_b = await call(admin, server, "POST", NODES, objects.node("node-b"))
    assert status == 201, node_b
    async with server.session(server.node_token("node-a")) as node_a_session:
        registration = objects.node("node-a", **{"kubernetes.io/hostname": "node-a"})
        registration["spec"] = {"taints": [OWN_TAINT]}  # --taint: set at registration
        status, node_a = await call(node_a_session, server, "POST", NODES, registration)
        assert status == 201, node_a
    status, node_a = await call(
        admin,
        server,
        "PATCH",
        f"{NODES}/node-a",
        {
            "metadata": {"labels": {"node-role.kubernetes.io/db": ""}},
            "spec": {"taints": [OWN_TAINT, ADMIN_TAINT]},
        },
        content_type=MERGE,
    )
    assert status == 200, node_a
    web_a = objects.pod("web-a", node="node-a", labels={"app": "web"})
    status, web_a = await call(admin, server, "POST", PODS, web_a)
    assert status == 201, web_a
    status, web_b = await call(admin, server, "POST", PODS, objects.pod("web-b", node="node-b"))
    assert status == 201, web_b
    status, _ = await call(admin, server, "POST", LEASES, objects.lease("node-b"))
    assert status == 201
    status, _ = await call(admin, server, "POST", EVENTS, objects.event("web-b.seen", web_b))
    assert status == 201
    return Setup(node_a=node_a, node_b=node_b, web_a=web_a, web_b=web_b)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_node_a_against_node_b(
    row: Row, server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """node-a's request is answered as kube-apiserver (Node authorizer + NodeRestriction)
    answers it: the status code, the reason, and the message word for word."""
    setup = await _setup(server, admin)
    body: Callable[[Setup], Any] | Any = row.body
    if callable(body):
        body = body(setup)
    async with server.session(server.node_token("node-a")) as node_a:
        status, answer = await call(
            node_a, server, row.method, row.path, body, content_type=row.content_type
        )
    if row.code >= 400:
        reason = {403: "Forbidden", 404: "NotFound"}[row.code]
        expected = row.message.format(uid_a=setup.node_a["metadata"]["uid"])
        assert (status, answer["reason"], answer["message"]) == (row.code, reason, expected)
        assert answer["code"] == row.code
    else:
        assert status == row.code, answer


async def test_refused_writes_change_nothing(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """After every refused write of the table, node-a and node-b and their pods are as the
    admin left them (a refusal is not a partial write)."""
    setup = await _setup(server, admin)
    async with server.session(server.node_token("node-a")) as node_a:
        for row in ROWS:
            if row.code < 400 or row.method == "GET":
                continue
            body = row.body(setup) if callable(row.body) else row.body
            status, _ = await call(
                node_a, server, row.method, row.path, body, content_type=row.content_type
            )
            assert status == row.code, row.id
    for path, before in (
        (f"{NODES}/node-a", setup.node_a),
        (f"{NODES}/node-b", setup.node_b),
        (f"{PODS}/web-b", setup.web_b),
    ):
        status, now = await call(admin, server, "GET", path)
        assert status == 200
        assert now["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], path
    status, _ = await call(admin, server, "GET", f"{PODS}/static-a")
    assert status == 404


@pytest.mark.parametrize("token", [None, "node.node-a.forged"])
async def test_without_valid_credentials_is_401(server: ServerInfo, token: str | None) -> None:
    """No token, or one the server did not issue: 401 before any rule is looked at."""
    async with server.session(token=token) as anonymous:
        status, answer = await call(anonymous, server, "GET", f"{NODES}/node-a")
    assert (status, answer["reason"]) == (401, "Unauthorized")
