"""Health, metrics and event recording on a real server."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import aiohttp
import yaml

from nodeagent.api.timefmt import format_time
from nodeagent.server.events import EventRecorder
from nodeagent.server.tls import ensure_tls
from tests.integration.server import objects
from tests.integration.server.conftest import call
from tests.support.server import ServerInfo, running_server
from tests.support.wait import wait_for


async def test_health_endpoints_need_no_token(server: ServerInfo) -> None:
    async with server.session(token=None) as anonymous:
        for path in ("/healthz", "/livez", "/readyz"):
            async with anonymous.get(server.url + path) as r:
                assert (r.status, await r.text()) == (200, "ok")


async def test_metrics_count_requests(server: ServerInfo, admin: aiohttp.ClientSession) -> None:
    """/metrics (with a token) counts requests with kube-apiserver's labels."""
    await call(admin, server, "GET", "/api/v1/namespaces/default/pods/nosuch")
    async with admin.get(server.url + "/metrics") as r:
        assert r.status == 200
        text = await r.text()
    assert (
        'apiserver_request_total{code="404",component="apiserver",dry_run="",group="",'
        'resource="pods",scope="resource",subresource="",verb="GET",version="v1"} 1.0'
    ) in text
    async with server.session(token=None) as anonymous, anonymous.get(server.url + "/metrics") as r:
        assert r.status == 401


async def test_a_watch_the_client_closes_counts_as_200(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """A client ending its watch is not a server error: the stream's 200 is what is counted
    (kube-apiserver's), where a closed watch was counted and logged as a 500."""
    watch = server.url + "/api/v1/namespaces/default/configmaps?watch=true"
    async with admin.get(watch) as r:
        assert r.status == 200  # the stream is open: its headers came
        r.close()  # the client hangs up, as kubectl does when it is done

    def counted(code: str, text: str) -> bool:
        return (
            f'apiserver_request_total{{code="{code}",component="apiserver",dry_run="",'
            'group="",resource="configmaps",scope="namespace",subresource="",verb="WATCH",'
            'version="v1"}'
        ) in text

    async def metrics() -> str:
        async with admin.get(server.url + "/metrics") as r:
            return await r.text()

    async def counted_as_200() -> str | None:
        text = await metrics()
        return text if counted("200", text) else None

    text = await wait_for(counted_as_200, timeout=10, message="the closed watch counted")
    assert not counted("500", text)


async def test_recorded_events_aggregate_repeats_and_list_in_time_order(
    server: ServerInfo, admin: aiohttp.ClientSession
) -> None:
    """The same event twice is one Event with count 2; other events of the object come after
    it in name order (client-go's NAME.<hex nanos>); a deleted Event is written anew."""
    assert server.registry is not None
    _, ds = await call(
        admin, server, "POST", "/apis/apps/v1/namespaces/default/daemonsets", objects.daemonset("x")
    )
    registry, recorder = server.registry, EventRecorder()

    async def record(reason: str, message: str, now: float) -> None:
        await recorder(
            registry,
            involved=ds,
            type="Normal",
            reason=reason,
            message=message,
            now=now,
            component="daemonset-controller",
        )

    start = time.time()  # recent: the collector prunes events older than an hour
    await record("SuccessfulCreate", "Created pod: x-a", start)
    await record("SuccessfulDelete", "Deleted pod: x-a", start + 1)
    await record("SuccessfulCreate", "Created pod: x-a", start + 60)
    path = (
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dx,"
        "involvedObject.kind%3DDaemonSet"
    )
    _, listed = await call(admin, server, "GET", path)
    by_name = sorted(listed["items"], key=lambda e: e["metadata"]["name"])
    assert [(e["reason"], e["count"]) for e in by_name] == [
        ("SuccessfulCreate", 2),
        ("SuccessfulDelete", 1),
    ]
    assert (by_name[0]["firstTimestamp"], by_name[0]["lastTimestamp"]) == (
        format_time(start),
        format_time(start + 60),
    )
    await call(
        admin,
        server,
        "DELETE",
        f"/api/v1/namespaces/default/events/{by_name[0]['metadata']['name']}",
    )
    await record("SuccessfulCreate", "Created pod: x-a", start + 120)
    _, listed = await call(admin, server, "GET", path)
    again = [e for e in listed["items"] if e["reason"] == "SuccessfulCreate"]
    assert [(e["count"], e["firstTimestamp"]) for e in again] == [(1, format_time(start + 120))]


async def test_given_certificate_is_served(tmp_path: Path) -> None:
    """--tls-cert-file/--tls-key-file/--tls-ca-file: served, and the kubeconfig trusts that CA."""
    own = ensure_tls(tmp_path / "pki", ("127.0.0.1",))
    async with (
        running_server(
            tmp_path / "data",
            run_controllers=False,
            tls_cert_file=own.cert,
            tls_key_file=own.key,
            tls_ca_file=own.ca,
        ) as srv,
        srv.session() as admin,
    ):
        assert srv.ca_file == own.ca
        assert not (tmp_path / "data" / "tls.crt").exists()  # no self-made serving cert
        # (DIR/ca.crt is made all the same: the fleet CA signs the agents' serving
        # certificates and the proxy's client identity, docs/security.md)
        status, _ = await call(admin, srv, "GET", "/api/v1/namespaces/default")
        assert status == 200
        config = yaml.safe_load(srv.kubeconfig.read_text())
        ca_data = config["clusters"][0]["cluster"]["certificate-authority-data"]
        assert base64.b64decode(ca_data) == own.ca.read_bytes()
