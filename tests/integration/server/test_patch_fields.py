"""Unknown fields in a PATCH (fieldValidation), checked on the object the patch produces."""

from __future__ import annotations

import aiohttp

from tests.integration.server.conftest import call
from tests.support.server import ServerInfo

MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


async def _node(admin: aiohttp.ClientSession, server: ServerInfo, name: str) -> None:
    status, body = await call(admin, server, "POST", "/api/v1/nodes", {"metadata": {"name": name}})
    assert status == 201, body


async def test_strict_refuses_an_unknown_field_and_stores_nothing(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """Strict: 400 naming the field; the node keeps its labels as they were."""
    await _node(admin, server, "n1")
    patch = {"metadata": {"labels": {"a": "1"}}, "spec": {"bogus": True}}
    path = "/api/v1/nodes/n1?fieldValidation=Strict"
    status, body = await call(admin, server, "PATCH", path, patch, content_type=MERGE)
    assert (status, body["message"]) == (400, 'strict decoding error: unknown field "spec.bogus"')
    status, node = await call(admin, server, "GET", "/api/v1/nodes/n1")
    assert "a" not in (node["metadata"].get("labels") or {})


async def test_warn_stores_the_patch_with_a_warning_header(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """Warn (the default): 200, the patch stored, one Warning per unknown field; a status
    patch with only known fields (on a node without unknown ones) carries none."""
    await _node(admin, server, "n2")
    await _node(admin, server, "n2s")
    patch = b'{"metadata":{"labels":{"a":"1"}},"spec":{"bogus":true}}'
    hdrs = {"Content-Type": MERGE}
    async with admin.patch(server.url + "/api/v1/nodes/n2", data=patch, headers=hdrs) as r:
        assert r.status == 200
        assert r.headers.getall("Warning") == ['299 - "unknown field \\"spec.bogus\\""']
        assert (await r.json())["metadata"]["labels"] == {"a": "1"}
    status_patch = b'{"status":{"conditions":[{"type":"Ready","status":"True"}]}}'
    url = server.url + "/api/v1/nodes/n2s/status"
    async with admin.patch(url, data=status_patch, headers=hdrs) as r:
        assert r.status == 200
        assert "Warning" not in r.headers


async def test_an_apply_that_creates_is_checked_too(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """Server-side apply of an absent object: Strict refuses an unknown field (nothing made),
    Warn creates it (201) with the warning."""
    doc = b"apiVersion: v1\nkind: Node\nmetadata:\n  name: n3\nspec:\n  bogus: 1\n"
    hdrs = {"Content-Type": APPLY}
    base = server.url + "/api/v1/nodes/n3?fieldManager=t"
    async with admin.patch(base + "&fieldValidation=Strict", data=doc, headers=hdrs) as r:
        assert r.status == 400
    status, _ = await call(admin, server, "GET", "/api/v1/nodes/n3")
    assert status == 404
    async with admin.patch(base, data=doc, headers=hdrs) as r:
        assert r.status == 201
        assert r.headers.getall("Warning") == ['299 - "unknown field \\"spec.bogus\\""']
