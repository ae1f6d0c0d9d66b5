"""The audit log of a real server over HTTPS: writes and refused writes recorded, reads not."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from nodeagent.api.bodies import Obj
from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo, running_server

PODS = "/api/v1/namespaces/default/pods"


def _records(server: ServerInfo) -> list[Obj]:
    lines = (server.data_dir / "audit.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _summary(record: Obj) -> tuple[str, str, str, int | None, str | None]:
    ref = record.get("objectRef") or {}
    code = (record.get("responseStatus") or {}).get("code")
    return (record["verb"], ref.get("resource", ""), ref.get("name", ""), code,
            record["user"].get("username"))  # fmt: skip


async def test_writes_and_refused_writes_are_recorded_reads_are_not(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """create/patch/delete by the admin, a create with a wrong token (401) and a node's create
    of a namespace (403) are recorded with user, verb, object and code; get, list and an Event
    are not. The Audit-Id response header is the record's auditID."""
    async with admin.post(server.url + PODS, json=objects.pod("web", node="n1")) as r:
        assert r.status == 201
        audit_id = r.headers["Audit-Id"]
    await call(admin, server, "GET", f"{PODS}/web")
    await call(admin, server, "GET", PODS)
    patch = {"metadata": {"labels": {"tier": "front"}}}
    status, _ = await call(
        admin, server, "PATCH", f"{PODS}/web", patch, content_type="application/merge-patch+json"
    )
    assert status == 200
    async with server.session(token="wrong-token") as forged:
        status, _ = await call(forged, server, "POST", PODS, objects.pod("evil", node="n1"))
        assert status == 401
    async with server.session(server.node_token("n1")) as n1:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
        status, _ = await call(n1, server, "POST", "/api/v1/namespaces", namespace)
        assert status == 403
    event = objects.event("web.1", objects.pod("web", node="n1"))
    status, _ = await call(admin, server, "POST", "/api/v1/namespaces/default/events", event)
    assert status == 201  # an Event: not recorded (Kubernetes' reference policy)
    status, _ = await call(admin, server, "DELETE", f"{PODS}/web")
    assert status == 200

    records = _records(server)
    assert [_summary(r) for r in records] == [
        ("create", "pods", "", 201, "admin"),
        ("patch", "pods", "web", 200, "admin"),
        ("create", "pods", "", 401, None),
        ("create", "namespaces", "", 403, "system:node:n1"),
        ("delete", "pods", "web", 200, "admin"),
    ]
    first = records[0]
    assert first["auditID"] == audit_id
    assert first["user"]["groups"] == ["system:masters", "system:authenticated"]
    assert first["objectRef"] == {"resource": "pods", "namespace": "default", "apiVersion": "v1"}
    assert first["sourceIPs"] == ["127.0.0.1"]
    assert first["userAgent"].startswith("Python/")  # aiohttp's
    assert (first["level"], first["stage"], first["requestURI"]) == (
        "Metadata",
        "ResponseComplete",
        PODS,
    )
    assert records[2]["user"] == {}
    assert records[3]["user"]["groups"] == ["system:nodes", "system:authenticated"]
    assert len({r["auditID"] for r in records}) == len(records)


async def test_no_audit_log_when_the_path_is_empty(tmp_path: Path) -> None:
    """--audit-log-path '' records nothing and makes no file."""
    async with (
        running_server(tmp_path / "data", audit_log_path="") as srv,
        srv.session() as s,
        s.post(srv.url + PODS, json=objects.pod("web", node="n1")) as r,
    ):
        assert r.status == 201
        assert "Audit-Id" not in r.headers
    assert not (tmp_path / "data" / "audit.log").exists()
