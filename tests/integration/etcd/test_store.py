"""The etcd store on a real etcd: the Store contract (CAS, errors, the node index, watches, the
window), keys in kube-apiserver's layout, and one server seeing another's writes."""

from __future__ import annotations

import asyncio
import base64
import urllib.error
from dataclasses import replace
from pathlib import Path

import pytest

from nodeagent.api.errors import AlreadyExists, Conflict, Gone, NotFound, ServiceUnavailable
from nodeagent.server.settings import build_settings
from nodeagent.server.store import etcdclient
from nodeagent.server.store.etcd import EtcdStore, TooLargeResourceVersion
from nodeagent.server.store.etcdclient import EtcdUnavailable
from nodeagent.server.store.protocol import WatchEvent
from nodeagent.server.storeopen import etcd_tls
from tests.support.etcd import EtcdProcess
from tests.support.server import free_port
from tests.support.tcpproxy import TcpProxy
from tests.support.wait import wait_for


def pod(name: str, node: str = "") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node}}


def rv(obj: dict[str, object]) -> int:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return int(meta["resourceVersion"])


async def test_cas_and_errors(store: EtcdStore) -> None:
    """Create, conflicting create, CAS update and delete answer as the SQLite store does."""
    created = await store.create("pods", pod("a"))
    first = rv(created)
    assert first == store.resource_version
    with pytest.raises(AlreadyExists):
        await store.create("pods", pod("a"))
    stale = dict(created, metadata=dict(created["metadata"]))
    updated = await store.update("pods", created)
    assert rv(updated) > first
    with pytest.raises(Conflict):
        await store.update("pods", stale)
    with pytest.raises(Conflict):
        await store.delete("pods", "default", "a", resource_version=first)
    deleted = await store.delete("pods", "default", "a", resource_version=rv(updated))
    assert rv(deleted) > rv(updated)
    with pytest.raises(NotFound):
        await store.get("pods", "default", "a")
    with pytest.raises(NotFound):
        await store.update("pods", pod("a"))
    with pytest.raises(NotFound):
        await store.delete("pods", "default", "a")


async def test_update_without_version_wins_over_a_concurrent_writer(
    store: EtcdStore, etcd: EtcdProcess
) -> None:
    """An update without a resourceVersion is compared with the current one and retried."""
    await store.create("pods", pod("a"))
    writes = [store.update("pods", {**pod("a"), "status": {"n": i}}) for i in range(5)]
    results = await asyncio.gather(*writes)
    assert len({rv(r) for r in results}) == 5
    got = await store.get("pods", "default", "a")
    assert rv(got) == max(rv(r) for r in results)
    assert etcd.keys("/registry/") == ["/registry/pods/default/a"]


async def test_keys_follow_kube_apiserver(store: EtcdStore, etcd: EtcdProcess) -> None:
    """Namespaced objects under /registry/<resource>/<ns>/<name>, cluster-scoped without ns."""
    await store.create("pods", pod("a"))
    await store.create("nodes", {"metadata": {"name": "n1"}})
    assert etcd.keys("/registry/") == ["/registry/nodes/n1", "/registry/pods/default/a"]
    assert (await store.get("nodes", "", "n1"))["metadata"]["uid"]


async def test_node_index_follows_rebinding(store: EtcdStore) -> None:
    p = await store.create("pods", pod("a", "n1"))
    p["spec"]["nodeName"] = "n2"
    await store.update("pods", p)
    assert (await store.list("pods", node_name="n1"))[0] == []
    items, list_rv = await store.list("pods", node_name="n2")
    assert [i["metadata"]["name"] for i in items] == ["a"]
    assert list_rv == store.resource_version


async def test_watch_replays_then_follows(store: EtcdStore) -> None:
    start = store.resource_version
    a = await store.create("pods", pod("a"))
    await store.create("daemonsets", pod("not-a-pod"))
    got: list[WatchEvent] = []

    async def follow() -> None:
        async for ev in store.watch("pods", since=start):
            got.append(ev)
            if len(got) == 3:
                return

    task = asyncio.create_task(follow())
    b = await store.create("pods", pod("b"))
    gone = await store.delete("pods", "default", "a")
    await asyncio.wait_for(task, timeout=5)
    assert [(e.type, e.object["metadata"]["name"], e.resource_version) for e in got] == [
        ("ADDED", "a", rv(a)),
        ("ADDED", "b", rv(b)),
        ("DELETED", "a", rv(gone)),
    ]
    assert got[2].prev_object is not None
    assert got[2].prev_object["metadata"]["resourceVersion"] == str(rv(a))


async def test_window_overflow_is_gone(etcd: EtcdProcess) -> None:
    store = await EtcdStore.open([etcd.url], watch_window=2)
    try:
        created = [await store.create("pods", pod(name)) for name in "abcd"]
        with pytest.raises(Gone, match="too old resource version"):
            await anext(aiter(store.watch("pods", since=rv(created[0]))))
        ev = await anext(aiter(store.watch("pods", since=rv(created[1]))))
        assert ev.resource_version == rv(created[2])
    finally:
        await store.close()


async def test_a_second_store_sees_the_first_ones_writes(
    store: EtcdStore, etcd: EtcdProcess
) -> None:
    """Two servers on one etcd: objects and watch events written through one reach the other."""
    other = await EtcdStore.open([etcd.url], watch_window=100)
    try:
        since = other.resource_version
        events = aiter(other.watch("pods", since=since, node_name="n1"))
        created = await store.create("pods", pod("a", "n1"))
        ev = await asyncio.wait_for(anext(events), timeout=5)
        assert (ev.type, ev.resource_version) == ("ADDED", rv(created))
        assert (await other.get("pods", "default", "a"))["metadata"]["uid"] == created["metadata"][
            "uid"
        ]
        with pytest.raises(Conflict):  # the other's copy is now stale
            await other.update(
                "pods",
                {
                    **pod("a", "n1"),
                    "metadata": {**created["metadata"], "resourceVersion": str(since)},
                },
            )
    finally:
        await other.close()


async def test_compacted_history_is_gone_after_reconnect(etcd: EtcdProcess) -> None:
    """Cut off while etcd compacts past it, the store relists on reconnect: it holds the
    objects written meanwhile, and a watch from before the cut is Gone (the client relists)."""
    async with TcpProxy.running("127.0.0.1", etcd.client_port) as proxy:
        store = await EtcdStore.open([f"http://{proxy.endpoint}"], probe_period=0.2)
        try:
            first = await store.create("pods", pod("a"))
            proxy.cut()
            await wait_for(lambda: not store.healthy, timeout=10, message="store unhealthy")
            other = await EtcdStore.open([etcd.url], compaction_interval=0)
            try:
                await other.create("pods", pod("b"))
                await other.delete("pods", "default", "a")
                header = etcd.post("/v3/maintenance/status", {})["header"]
                assert isinstance(header, dict)
                etcd.post("/v3/kv/compaction", {"revision": header["revision"]})
            finally:
                await other.close()
            proxy.restore()
            await wait_for(lambda: store.healthy, timeout=15, message="store healthy again")
            await wait_for(
                lambda: store.resource_version >= int(str(header["revision"])),
                timeout=10,
                message="relisted",
            )
            items, _ = await store.list("pods")
            assert [i["metadata"]["name"] for i in items] == ["b"]
            with pytest.raises(Gone):
                await anext(aiter(store.watch("pods", since=rv(first))))
        finally:
            await store.close()


async def test_unreachable_etcd_makes_the_store_unhealthy_and_writes_503(
    etcd: EtcdProcess,
) -> None:
    """While etcd cannot be reached the store says so and writes fail with 503; then recover."""
    async with TcpProxy.running("127.0.0.1", etcd.client_port) as proxy:
        store = await EtcdStore.open([f"http://{proxy.endpoint}"], probe_period=0.2)
        try:
            assert store.healthy
            proxy.cut()
            await wait_for(lambda: not store.healthy, timeout=10, message="store unhealthy")
            with pytest.raises(ServiceUnavailable, match="etcd: "):
                await store.create("pods", pod("a"))
            proxy.restore()
            await wait_for(lambda: store.healthy, timeout=15, message="store healthy again")
            assert (await store.create("pods", pod("a")))["metadata"]["name"] == "a"
        finally:
            await store.close()


async def test_open_fails_with_the_reason_when_no_endpoint_answers() -> None:
    with pytest.raises(EtcdUnavailable, match="connection refused"):
        await EtcdStore.open([f"http://127.0.0.1:{free_port()}"])


async def test_a_dead_endpoint_is_passed_over(etcd: EtcdProcess) -> None:
    """With several endpoints, one that refuses connections does not stop the store."""
    store = await EtcdStore.open([f"http://127.0.0.1:{free_port()}", etcd.url])
    try:
        created = await store.create("pods", pod("a"))
        assert (await store.get("pods", "default", "a"))["metadata"] == created["metadata"]
    finally:
        await store.close()


async def test_the_initial_list_reads_every_page(
    etcd: EtcdProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store opened on existing objects loads them all, however many range pages it takes."""
    monkeypatch.setattr(etcdclient, "PAGE", 2)
    writer = await EtcdStore.open([etcd.url])
    try:
        for name in "abcde":
            await writer.create("pods", pod(name, "n1"))
    finally:
        await writer.close()
    reader = await EtcdStore.open([etcd.url])
    try:
        items, _ = await reader.list("pods", node_name="n1")
        assert [i["metadata"]["name"] for i in items] == list("abcde")
    finally:
        await reader.close()


async def test_a_watch_from_a_version_this_server_has_not_seen_waits_for_it(
    etcd: EtcdProcess,
) -> None:
    """A version from a server ahead of this one: the watch starts after it (nothing older is
    sent); one this server does not reach in 3 s is kube-apiserver's 504 "Too large"."""
    writer = await EtcdStore.open([etcd.url])
    async with TcpProxy.running("127.0.0.1", etcd.client_port) as proxy:
        behind = await EtcdStore.open([f"http://{proxy.endpoint}"], probe_period=0.2)
        try:
            proxy.cut()
            await wait_for(lambda: not behind.healthy, timeout=10, message="cut off")
            a = await writer.create("pods", pod("a"))
            with pytest.raises(TooLargeResourceVersion, match="Too large resource version"):
                await anext(aiter(behind.watch("pods", since=rv(a))))
            b = await writer.create("pods", pod("b"))
            events = aiter(behind.watch("pods", since=rv(a)))

            async def next_event() -> WatchEvent:
                return await anext(events)

            first = asyncio.create_task(next_event())
            proxy.restore()
            ev = await asyncio.wait_for(first, timeout=10)
            assert (ev.object["metadata"]["name"], ev.resource_version) == ("b", rv(b))
        finally:
            await behind.close()
            await writer.close()


async def test_the_compactor_drops_history_older_than_one_interval(etcd: EtcdProcess) -> None:
    """As kube-apiserver's compactor: each interval, etcd is compacted to the revision seen
    one interval before, coordinated through compact_rev_key (here with two servers on it)."""
    first = await EtcdStore.open([etcd.url], compaction_interval=0.2)
    second = await EtcdStore.open([etcd.url], compaction_interval=0.2)
    try:
        created = await first.create("pods", pod("a"))

        def compacted() -> bool:
            status = etcd.post("/v3/maintenance/status", {})
            assert isinstance(status["header"], dict)
            try:
                etcd.post("/v3/kv/range", {"key": "eA==", "revision": rv(created)})
            except urllib.error.HTTPError as exc:
                return b"compacted" in exc.read()
            return False

        await wait_for(compacted, timeout=15, message="etcd compacted past the create")
        keys = etcd.keys("compact_rev_key")
        assert keys == ["compact_rev_key"]
        assert (await second.get("pods", "default", "a"))["metadata"]["name"] == "a"
    finally:
        await first.close()
        await second.close()


async def test_tls_to_etcd_with_a_client_certificate(tmp_path: Path) -> None:
    """--etcd-cafile/--etcd-certfile/--etcd-keyfile: https to an etcd that requires client
    certificates; without ours it refuses us, and the reason says TLS."""
    etcd = EtcdProcess.start(tmp_path / "etcd", tls=True)
    try:
        assert etcd.certs is not None
        settings = build_settings(
            data_dir=str(tmp_path / "d"),
            store=f"etcd://{etcd.endpoint}",
            etcd_cafile=str(etcd.certs.ca),
            etcd_certfile=str(etcd.certs.client_cert),
            etcd_keyfile=str(etcd.certs.client_key),
        )
        assert settings.etcd_endpoints == (etcd.url,)
        store = await EtcdStore.open(settings.etcd_endpoints, ssl_context=etcd_tls(settings))
        try:
            created = await store.create("pods", pod("a"))
            assert (await store.get("pods", "default", "a"))["metadata"] == created["metadata"]
        finally:
            await store.close()
        untrusting = replace(settings, etcd_ca_file=None)
        with pytest.raises(EtcdUnavailable, match="TLS: "):
            await EtcdStore.open(settings.etcd_endpoints, ssl_context=etcd_tls(untrusting))
    finally:
        etcd.stop()


async def test_a_value_that_is_not_json_is_skipped(store: EtcdStore, etcd: EtcdProcess) -> None:
    """Something else writing under /registry/ (say protobuf) neither stops the watch nor
    shows up as an object, in a live store or one opened on it; its delete is ignored too."""
    key = base64.b64encode(b"/registry/pods/default/alien").decode()
    etcd.post("/v3/kv/put", {"key": key, "value": base64.b64encode(b"\x00k8s\x00").decode()})
    created = await store.create("pods", pod("a"))
    assert store.resource_version >= rv(created)
    reopened = await EtcdStore.open([etcd.url])
    try:
        for s in (store, reopened):
            assert [i["metadata"]["name"] for i in (await s.list("pods"))[0]] == ["a"]
        etcd.post("/v3/kv/deleterange", {"key": key})
        again = await store.create("pods", pod("b"))
        await wait_for(
            lambda: reopened.resource_version >= rv(again), timeout=5, message="reopened follows"
        )
        assert store.resource_version >= rv(again)
    finally:
        await reopened.close()


async def test_writes_made_while_cut_off_arrive_after_reconnect(etcd: EtcdProcess) -> None:
    """The watch resumes from the last revision seen + 1: an open watch gets every change
    another server made meanwhile, in order, and nothing twice."""
    writer = await EtcdStore.open([etcd.url])
    async with TcpProxy.running("127.0.0.1", etcd.client_port) as proxy:
        reader = await EtcdStore.open([f"http://{proxy.endpoint}"], probe_period=0.2)
        try:
            events = aiter(reader.watch("pods", since=reader.resource_version))
            before = await writer.create("pods", pod("a"))
            assert (await asyncio.wait_for(anext(events), 5)).resource_version == rv(before)
            proxy.cut()
            await wait_for(lambda: not reader.healthy, timeout=10, message="cut off")
            b = await writer.create("pods", pod("b"))
            gone = await writer.delete("pods", "default", "a")
            proxy.restore()
            got = [await asyncio.wait_for(anext(events), 15) for _ in range(2)]
            assert [(e.type, e.object["metadata"]["name"], e.resource_version) for e in got] == [
                ("ADDED", "b", rv(b)),
                ("DELETED", "a", rv(gone)),
            ]
        finally:
            await reader.close()
            await writer.close()
