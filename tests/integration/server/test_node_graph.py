"""The node authorizer's graph for ConfigMaps and Secrets, row by row over HTTPS with node-a's
real credentials: node-a reads what a pod bound to it references (a volume, env, envFrom,
imagePullSecrets, a projected source), by get or by a list/watch naming the object, and
nothing else; every answer is kube-apiserver's status, reason and message.

Each row runs on a fresh server holding pod web-a on node-a and web-b on node-b, each with
its references, and objects no pod references.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from nodeagent.api.bodies import Obj
from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo

NS = "/api/v1/namespaces/default"
CMS = f"{NS}/configmaps"
SECRETS = f"{NS}/secrets"
USER = 'User "system:node:node-a"'
NO_RELATION = "no relationship found between node 'node-a' and this object"
READ_ONLY = "can only read resources of this type"


def forbidden(subject: str, verb: str, resource: str, reason: str, scope: str = "default") -> str:
    where = f'in the namespace "{scope}"' if scope else "at the cluster scope"
    return (
        f'{subject} is forbidden: {USER} cannot {verb} resource "{resource}" in API group "" '
        f"{where}: {reason}"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    id: str
    method: str
    path: str
    code: int
    message: str = ""
    body: Any = None
    content_type: str = "application/json"


ROWS: tuple[Row, ...] = (
    Row(id="configMap volume", method="GET", path=f"{CMS}/conf-a", code=200),
    Row(id="configMapKeyRef", method="GET", path=f"{CMS}/env-a", code=200),
    Row(id="envFrom configMapRef", method="GET", path=f"{CMS}/from-a", code=200),
    Row(id="projected configMap", method="GET", path=f"{CMS}/proj-a", code=200),
    Row(id="secret volume", method="GET", path=f"{SECRETS}/vol-a", code=200),
    Row(id="secretKeyRef", method="GET", path=f"{SECRETS}/key-a", code=200),
    Row(id="envFrom secretRef", method="GET", path=f"{SECRETS}/from-a", code=200),
    Row(id="imagePullSecrets", method="GET", path=f"{SECRETS}/pull-a", code=200),
    Row(id="projected secret", method="GET", path=f"{SECRETS}/proj-a", code=200),
    Row(
        id="referenced but absent: 404 once allowed",
        method="GET",
        path=f"{CMS}/missing-a",
        code=404,
        message='configmaps "missing-a" not found',
    ),
    Row(
        id="another node's configmap",
        method="GET",
        path=f"{CMS}/conf-b",
        code=403,
        message=forbidden('configmaps "conf-b"', "get", "configmaps", NO_RELATION),
    ),
    Row(
        id="another node's secret",
        method="GET",
        path=f"{SECRETS}/db-b",
        code=403,
        message=forbidden('secrets "db-b"', "get", "secrets", NO_RELATION),
    ),
    Row(
        id="a secret no pod references",
        method="GET",
        path=f"{SECRETS}/unused",
        code=403,
        message=forbidden('secrets "unused"', "get", "secrets", NO_RELATION),
    ),
    Row(
        id="an absent secret no pod references: 403, not 404",
        method="GET",
        path=f"{SECRETS}/ghost",
        code=403,
        message=forbidden('secrets "ghost"', "get", "secrets", NO_RELATION),
    ),
    Row(
        id="the same name in another namespace",
        method="GET",
        path="/api/v1/namespaces/kube-system/configmaps/conf-a",
        code=403,
        message=forbidden(
            'configmaps "conf-a"', "get", "configmaps", NO_RELATION, scope="kube-system"
        ),
    ),
    Row(
        id="list all secrets of a namespace",
        method="GET",
        path=SECRETS,
        code=403,
        message=forbidden("secrets", "list", "secrets", "No Object name found"),
    ),
    Row(
        id="list secrets of every namespace",
        method="GET",
        path="/api/v1/secrets",
        code=403,
        message=forbidden(
            "secrets", "list", "secrets", "can only read namespaced object of this type", scope=""
        ),
    ),
    Row(
        id="list one referenced secret by name",
        method="GET",
        path=f"{SECRETS}?fieldSelector=metadata.name%3Dkey-a",
        code=200,
    ),
    Row(
        id="list another node's configmap by name",
        method="GET",
        path=f"{CMS}?fieldSelector=metadata.name%3Dconf-b",
        code=403,
        message=forbidden('configmaps "conf-b"', "list", "configmaps", NO_RELATION),
    ),
    Row(
        id="watch another node's configmap by name",
        method="GET",
        path=f"{CMS}?watch=true&fieldSelector=metadata.name%3Dconf-b",
        code=403,
        message=forbidden('configmaps "conf-b"', "watch", "configmaps", NO_RELATION),
    ),
    Row(
        id="create a configmap",
        method="POST",
        path=CMS,
        code=403,
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine"}},
        message=forbidden("configmaps", "create", "configmaps", READ_ONLY),
    ),
    Row(
        id="patch a referenced secret",
        method="PATCH",
        path=f"{SECRETS}/key-a",
        code=403,
        body={"data": {"k": "eA=="}},
        content_type="application/merge-patch+json",
        message=forbidden('secrets "key-a"', "patch", "secrets", READ_ONLY),
    ),
    Row(
        id="delete a referenced configmap",
        method="DELETE",
        path=f"{CMS}/conf-a",
        code=403,
        message=forbidden('configmaps "conf-a"', "delete", "configmaps", READ_ONLY),
    ),
)


def configmap(name: str, namespace: str = "default") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": name},
    }


def secret(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"k": "eA=="}}


def web_a() -> Obj:
    pod = objects.pod("web-a", node="node-a")
    spec = pod["spec"]
    spec["containers"][0]["env"] = [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "env-a", "key": "k"}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "key-a", "key": "k"}}},
    ]
    spec["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "from-a"}},
        {"secretRef": {"name": "from-a"}},
    ]
    spec["imagePullSecrets"] = [{"name": "pull-a"}]
    spec["volumes"] = [
        {"name": "conf", "configMap": {"name": "conf-a"}},
        {"name": "missing", "configMap": {"name": "missing-a", "optional": True}},
        {"name": "vol", "secret": {"secretName": "vol-a"}},
        {
            "name": "proj",
            "projected": {
                "sources": [{"configMap": {"name": "proj-a"}}, {"secret": {"name": "proj-a"}}]
            },
        },
    ]
    return pod


def web_b() -> Obj:
    pod = objects.pod("web-b", node="node-b")
    pod["spec"]["volumes"] = [
        {"name": "conf", "configMap": {"name": "conf-b"}},
        {"name": "db", "secret": {"secretName": "db-b"}},
    ]
    return pod


async def _setup(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    for path, body in (
        ("/api/v1/nodes", objects.node("node-a")),
        ("/api/v1/nodes", objects.node("node-b")),
        (f"{NS}/pods", web_a()),
        (f"{NS}/pods", web_b()),
        *((CMS, configmap(n)) for n in ("conf-a", "env-a", "from-a", "proj-a", "conf-b")),
        ("/api/v1/namespaces/kube-system/configmaps", configmap("conf-a", "kube-system")),
        *((SECRETS, secret(n)) for n in ("vol-a", "key-a", "from-a", "pull-a", "proj-a")),
        *((SECRETS, secret(n)) for n in ("db-b", "unused")),
    ):
        status, answer = await call(admin, server, "POST", path, body)
        assert status == 201, answer


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_node_a_reads_only_what_its_pods_reference(
    row: Row, server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """node-a's request is answered as kube-apiserver's node authorizer answers it."""
    await _setup(server, admin)
    async with server.session(server.node_token("node-a")) as node_a:
        status, answer = await call(
            node_a, server, row.method, row.path, row.body, content_type=row.content_type
        )
    if row.code >= 400:
        reason = {403: "Forbidden", 404: "NotFound"}[row.code]
        assert (status, answer["reason"], answer["message"]) == (row.code, reason, row.message)
    else:
        assert status == row.code, answer


async def test_watch_one_referenced_object(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """kubelet's reflector per object: a watch by metadata.name of a referenced ConfigMap
    streams its changes to the node."""
    await _setup(server, admin)
    query = "?watch=true&fieldSelector=metadata.name%3Dconf-a&timeoutSeconds=5"
    async with (
        server.session(server.node_token("node-a")) as node_a,
        node_a.get(server.url + CMS + query) as response,
    ):
        assert response.status == 200
        status, _ = await call(
            admin,
            server,
            "PATCH",
            f"{CMS}/conf-a",
            {"data": {"k": "changed"}},
            content_type="application/merge-patch+json",
        )
        assert status == 200
        async for line in response.content:
            event = json.loads(line)
            if event["object"]["data"] == {"k": "changed"}:
                assert event["type"] == "MODIFIED"
                break
        else:
            pytest.fail("the watch ended without the change")


async def test_relation_follows_the_pods(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """Once web-a is deleted, node-a may no longer read what it referenced; once a pod on
    node-a references db-b, node-a may read it."""
    await _setup(server, admin)
    status, _ = await call(admin, server, "DELETE", f"{NS}/pods/web-a?gracePeriodSeconds=0")
    assert status == 200
    new = objects.pod("db-client", node="node-a")
    new["spec"]["volumes"] = [{"name": "db", "secret": {"secretName": "db-b"}}]
    status, answer = await call(admin, server, "POST", f"{NS}/pods", new)
    assert status == 201, answer
    async with server.session(server.node_token("node-a")) as node_a:
        status, answer = await call(node_a, server, "GET", f"{CMS}/conf-a")
        assert (status, answer["message"]) == (
            403,
            forbidden('configmaps "conf-a"', "get", "configmaps", NO_RELATION),
        )
        status, answer = await call(node_a, server, "GET", f"{SECRETS}/db-b")
        assert status == 200, answer
        assert answer["data"] == {"k": "eA=="}


@pytest.mark.parametrize("token", [None, "nodecred.node-a.forged"])
@pytest.mark.parametrize("path", [f"{CMS}/conf-a", f"{SECRETS}/key-a", SECRETS])
async def test_without_valid_credentials_is_401(
    server: ServerInfo, admin: aiohttp.ClientSession, token: str | None, path: str
) -> None:
    """No token, or one the server did not issue: 401 before the graph is looked at."""
    await _setup(server, admin)
    async with server.session(token=token) as anonymous:
        status, answer = await call(anonymous, server, "GET", path)
    assert (status, answer["reason"]) == (401, "Unauthorized")
