"""The REST client and the API pod source against a small scripted aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nodeagent.agent.apiclient import ApiClient, Unreachable, resource_path
from nodeagent.agent.sources.apiserver import Backoff, ServerPodsView, run_api_source
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from tests.support.wait import wait_for


def status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def pod(name: str, uid: str, rv: str, **annotations: str) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": uid, "resourceVersion": rv}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"nodeName": "node-a"}}


class FakeServer:
    """Pods bound to node-a; a watch replays `events` from the requested version, or 410."""

    def __init__(self) -> None:
        self.pods: dict[str, Obj] = {}
        self.events: list[tuple[int, str, Obj]] = []  # (rv, type, object)
        self.oldest = 0
        self.requests: list[tuple[str, dict[str, str], str]] = []
        self.rv = 1

    def put(self, kind: str, obj: Obj) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        uid = obj["metadata"]["uid"]
        if kind == "DELETED":
            self.pods.pop(uid, None)
        else:
            self.pods[uid] = obj
        self.events.append((self.rv, kind, obj))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append((request.path, query, request.headers.get("Authorization", "")))
        if request.path.endswith("/forbidden"):
            return web.json_response(status(403, "Forbidden", "no"), status=403)
        if query.get("watch") != "true":
            return web.json_response(
                {
                    "kind": "PodList",
                    "metadata": {"resourceVersion": str(self.rv)},
                    "items": list(self.pods.values()),
                }
            )
        since = int(query.get("resourceVersion") or 0)
        resp = web.StreamResponse()
        await resp.prepare(request)
        if since < self.oldest:
            line = {"type": "ERROR", "object": status(410, "Expired", "too old resource version")}
            await resp.write(json.dumps(line).encode() + b"\n")
            return resp
        sent = since
        for _ in range(40):  # stream for about two seconds, then end the watch
            for rv, kind, obj in self.events:
                if rv > sent:
                    await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
                    sent = rv
            await asyncio.sleep(0.05)
        return resp


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeServer, ApiClient]]:
    server = FakeServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    client = ApiClient(server_url=str(test_server.make_url("")), token="tok")
    yield server, client
    await client.close()
    await test_server.close()


async def test_errors_map_to_api_error_classes(fake: tuple[FakeServer, ApiClient]) -> None:
    """A Status reply becomes the matching nodeagent.api.errors class with its message."""
    server, client = fake
    with pytest.raises(errors.Forbidden, match="no"):
        await client.get("/api/v1/forbidden")
    assert server.requests[-1][2] == "Bearer tok"


async def test_unreachable_server() -> None:
    """A closed port raises Unreachable, not an aiohttp error."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ApiClient(server_url=f"http://127.0.0.1:{port}", token="t", timeout=2)
    with pytest.raises(Unreachable):
        await client.get("/api/v1/nodes")
    await client.close()


async def test_watch_error_410_raises_gone(fake: tuple[FakeServer, ApiClient]) -> None:
    """An ERROR event carrying 410 ends the watch with errors.Gone."""
    server, client = fake
    server.oldest = 100
    with pytest.raises(errors.Gone):
        async for _ in client.watch("/api/v1/pods", params={"resourceVersion": "5"}):
            pass


def test_resource_paths() -> None:
    """Paths follow the resource table: core, group, namespaced, subresource."""
    assert resource_path("nodes", name="a", subresource="status") == "/api/v1/nodes/a/status"
    assert (
        resource_path("leases", namespace="kube-node-lease", name="a")
        == "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/a"
    )
    assert resource_path("pods") == "/api/v1/pods"


async def next_update(queue: asyncio.Queue[SourceUpdate]) -> SourceUpdate:
    return await asyncio.wait_for(queue.get(), 10)


def names(update: SourceUpdate) -> list[str]:
    return [p["metadata"]["name"] for p in update.pods]


def start_api_source(
    client: ApiClient,
    queue: asyncio.Queue[SourceUpdate],
    state_dir: Any,
    *,
    view: ServerPodsView | None = None,
    save: Callable[[str, Sequence[Obj]], object] = lambda _d, _p: None,
    load: Callable[[str], Sequence[Obj] | None] = lambda _d: [],
    watch_timeout: int = 1,
) -> asyncio.Task[None]:
    """node-a's API source against `client`, with a quick back-off, as a task."""
    return asyncio.create_task(
        run_api_source(
            client=client,
            node_name="node-a",
            state_dir=str(state_dir),
            queue=queue,
            view=view or ServerPodsView(),
            save_checkpoint=save,
            load_checkpoint=load,
            watch_timeout=watch_timeout,
            backoff=Backoff(initial=0.05, maximum=0.1),
        )
    )


async def test_api_source_lists_watches_and_relists(
    fake: tuple[FakeServer, ApiClient], tmp_path: Any
) -> None:
    """The source sends full sets without mirror pods, checkpoints them, and relists on 410."""
    server, client = fake
    server.put("ADDED", pod("web", "u1", ""))
    server.put("ADDED", pod("logs-node-a", "m1", "", **{"kubernetes.io/config.mirror": "h"}))
    saved: list[list[str]] = []
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    view = ServerPodsView()

    def save(_dir: str, pods: Sequence[Obj]) -> None:
        saved.append([p["metadata"]["name"] for p in pods])

    task = start_api_source(client, queue, tmp_path, view=view, save=save)
    try:
        first = await next_update(queue)
        assert first.source == SourceName.API
        assert names(first) == ["web"]
        assert server.requests[0][1]["fieldSelector"] == "spec.nodeName=node-a"
        server.put("ADDED", pod("db", "u2", ""))
        assert names(await next_update(queue)) == ["db", "web"]
        await wait_for(lambda: saved[-1] == ["db", "web"], timeout=5, message="checkpointed")
        assert "logs-node-a" in view.mirror_pods()
        lists_before = sum(1 for _, q, _ in server.requests if q.get("watch") != "true")
        server.oldest = server.rv + 1  # every watch from now on is too old
        server.put("DELETED", pod("web", "u1", ""))
        server.events.clear()
        update = await next_update(queue)
        assert names(update) == ["db"]

        def relisted() -> bool:
            lists = sum(1 for _, q, _ in server.requests if q.get("watch") != "true")
            return lists > lists_before

        await wait_for(relisted, timeout=10, message="a 410 led to a new list")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_slow_checkpoint_write_holds_back_no_watch_event(
    fake: tuple[FakeServer, ApiClient], tmp_path: Any
) -> None:
    """While a checkpoint write hangs on the disk, the watch's next changes are still sent
    (a rollout's delete and create come back to back); once the disk answers, only the newest
    set waiting is written, and the file ends up as the source's latest set."""
    server, client = fake
    server.put("ADDED", pod("web", "u1", ""))
    saved: list[list[str]] = []
    disk = threading.Event()  # the first write blocks until the test lets it go
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()

    def save(_dir: str, pods: Sequence[Obj]) -> None:
        disk.wait(timeout=30)
        saved.append([p["metadata"]["name"] for p in pods])

    task = start_api_source(client, queue, tmp_path, save=save)
    try:
        assert names(await next_update(queue)) == ["web"]  # its write now hangs
        server.put("DELETED", pod("web", "u1", ""))
        server.put("ADDED", pod("web-2", "u2", ""))
        server.put("ADDED", pod("db", "u3", ""))
        sent = [names(await next_update(queue)) for _ in range(3)]
        assert sent == [[], ["web-2"], ["db", "web-2"]]
        assert saved == []  # all three sent while the first write still hung
        disk.set()
        await wait_for(lambda: saved[-1:] == [["db", "web-2"]], timeout=5, message="latest")
        assert saved == [["web"], ["db", "web-2"]]  # the sets in between were never written
    finally:
        disk.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_api_source_boots_from_checkpoint_when_server_is_down(tmp_path: Any) -> None:
    """With no server, the checkpoint's pods are sent as the API source's set."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ApiClient(server_url=f"http://127.0.0.1:{port}", token="t", timeout=1)
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = start_api_source(
        client, queue, tmp_path, load=lambda _d: [pod("web", "u1", "3")], watch_timeout=300
    )
    try:
        update = await next_update(queue)
        assert names(update) == ["web"]
        assert update.source == SourceName.API
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()


async def test_a_request_that_cannot_connect_goes_to_the_next_server(
    fake: tuple[FakeServer, ApiClient],
) -> None:
    """Given a dead server first, the request is answered by the second, and the client stays
    on the second for the next one."""
    server, live = fake
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = ApiClient(server_url=f"{dead},{live.server_url}", token="t", timeout=2)
    try:
        assert (await client.list("/api/v1/pods"))["kind"] == "PodList"
        assert client.server_url == live.server_url
        assert len(server.requests) == 1
    finally:
        await client.close()


async def test_api_source_resumes_its_watch_on_the_next_server(tmp_path: Any) -> None:
    """Two servers over one store (one FakeServer's events): the first one stops while the
    source watches it; the source goes on watching the second from the resourceVersion it had,
    without a new list, and a pod added meanwhile reaches it."""
    store = FakeServer()
    store.put("ADDED", pod("web", "u1", ""))
    seen: list[tuple[int, str]] = []  # (server index, "list" | "watch@RV")
    sites: list[TestServer] = []
    for index in range(2):

        async def handle(request: web.Request, index: int = index) -> web.StreamResponse:
            watch = request.query.get("watch") == "true"
            rv = request.query.get("resourceVersion", "")
            seen.append((index, f"watch@{rv}" if watch else "list"))
            return await store.handle(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        site = TestServer(app, host="127.0.0.1")
        await site.start_server()
        sites.append(site)
    urls = ",".join(str(site.make_url("")).rstrip("/") for site in sites)
    client = ApiClient(server_url=urls, token="t", timeout=2)
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    task = start_api_source(client, queue, tmp_path, watch_timeout=30)
    try:
        assert names(await next_update(queue)) == ["web"]
        await wait_for(lambda: (0, f"watch@{store.rv}") in seen, timeout=5, message="watching 0")
        watched_from = store.rv
        await sites[0].close()
        store.put("ADDED", pod("db", "u2", ""))
        assert names(await next_update(queue)) == ["db", "web"]
        assert (1, f"watch@{watched_from}") in seen
        assert (1, "list") not in seen
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()
        for site in sites:
            await site.close()
