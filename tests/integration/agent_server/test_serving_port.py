"""The server-to-agent channel over mutual TLS, with the real server (HTTPS, in this loop), the
agent's real serving port and application over an in-memory runtime, and real TLS clients.

The serving certificate endpoint's 401/403 rows and what it signs; the agent's serving port
refusing every caller but the server's kubelet client; the proxy refusing an agent that presents
another node's certificate; the certificate renewed without a restart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nodeagent.agent.apiclient import ApiClient
from nodeagent.agent.http import AgentMetrics, make_serving_app
from nodeagent.agent.servingport import ServingPort
from nodeagent.agent.sources.update import SourceName
from nodeagent.agent.state import AgentState, PodRecord
from nodeagent.api.bodies import Obj
from nodeagent.api.certs import SERVING_CERTIFICATE_PATH
from nodeagent.runtime.fake import FakeRuntime
from nodeagent.runtime.protocol import ExecResult, PodContext
from tests.support.agenttls import serving_port
from tests.support.server import ServerInfo, running_server
from tests.support.wait import wait_for

LOGS = b"one\ntwo\n"
EXEC = [("command", "echo"), ("command", "hi"), ("stdout", "true")]


def _csr(*, common_name: str = "system:node:n1", sans: Sequence[x509.GeneralName] = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(pem).decode()


async def _post_csr(srv: ServerInfo, token: str | None, request: str) -> tuple[int, Obj]:
    body = {"kind": "ServingCertificateRequest", "spec": {"request": request}}
    async with (
        srv.session(token) as http,
        http.post(srv.url + SERVING_CERTIFICATE_PATH, json=body) as r,
    ):
        return r.status, await r.json()


async def test_serving_certificate_endpoint(tmp_path: Path) -> None:
    """No credential: 401; the admin (no node): 403; a node: 201 with a certificate for itself
    only (its CSR's subject ignored), serverAuth only, the CSR's IP and DNS names, a year at
    most; another kind of name, or a request that is not a CSR: 422 naming spec.request."""
    async with running_server(tmp_path / "data") as srv:
        wanted = [x509.IPAddress(ipaddress.ip_address("10.0.0.7")), x509.DNSName("n1.example")]
        request = _csr(common_name="kube-apiserver-kubelet-client", sans=wanted)
        assert (await _post_csr(srv, None, request))[0] == 401
        code, reply = await _post_csr(srv, "admin", request)
        assert (code, reply["reason"]) == (403, "Forbidden")
        assert "only a node may ask" in reply["message"]

        code, reply = await _post_csr(srv, srv.node_token("n1"), request)
        assert code == 201, reply
        cert = x509.load_pem_x509_certificate(base64.b64decode(reply["status"]["certificate"]))
        assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert list(san) == wanted
        life = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
        assert dt.timedelta(days=364) < life <= dt.timedelta(days=365)
        ca = x509.load_pem_x509_certificate(srv.ca_file.read_bytes())
        cert.verify_directly_issued_by(ca)

        uri = _csr(sans=[x509.UniformResourceIdentifier("spiffe://fleet/n1")])
        for bad, words in ((uri, "UniformResourceIdentifier"), ("bm90IGEgY3Ny", "not a PEM")):
            code, reply = await _post_csr(srv, srv.node_token("n1"), bad)
            assert (code, reply["reason"]) == (422, "Invalid"), reply
            assert reply["details"]["causes"][0]["field"] == "spec.request"
            assert words in reply["message"]


def _exec_handler(container_id: str, command: Sequence[str]) -> ExecResult:
    return ExecResult(exit_code=0, output=" ".join(command[1:]).encode() + b"\n")


@dataclass(kw_only=True)
class FakeAgent:
    """A node's agent: its serving application over an in-memory runtime with one pod."""

    state: AgentState
    app_: Any


async def _fake_agent(srv: ServerInfo, node: str, tmp_path: Path) -> FakeAgent:
    """The node's agent app with one running pod `web-<node>` (container `c`), created on the
    server too (bound to the node)."""
    runtime = FakeRuntime(exec_handler=_exec_handler)
    state = AgentState(node_name=node)
    async with srv.session() as http:
        body = {"metadata": {"name": node}}
        async with http.post(srv.url + "/api/v1/nodes", json=body) as r:
            assert r.status == 201, await r.text()
        pod = {
            "metadata": {"name": f"web-{node}"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
        }
        async with http.post(srv.url + "/api/v1/namespaces/default/pods", json=pod) as r:
            created = await r.json()
            assert r.status == 201, created
    ctx = PodContext(
        node_name=node, host_ip="127.0.0.1", source="api", spec_hash="h", volume_dir=str(tmp_path)
    )
    cid, _ = await runtime.create_container(
        created, created["spec"]["containers"][0], ctx, attempt=0, is_init=False
    )
    await runtime.start_container(cid)
    runtime.logs_of[cid] = LOGS
    state.pods[created["metadata"]["uid"]] = PodRecord(
        pod=created, source=SourceName.API, status={}, container_ids={"c": cid}
    )
    app = make_serving_app(state=state, runtime_of=lambda: runtime, metrics_=AgentMetrics())
    return FakeAgent(state=state, app_=app)


async def _advertise(srv: ServerInfo, node: str, port: int) -> None:
    """The node's status names 127.0.0.1:`port` as its agent's endpoint (as its agent would)."""
    status = {
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        }
    }
    async with (
        srv.session() as http,
        http.patch(
            f"{srv.url}/api/v1/nodes/{node}/status",
            data=json.dumps(status),
            headers={"Content-Type": "application/merge-patch+json"},
        ) as r,
    ):
        assert r.status == 200, await r.text()


def _node_client_ssl(srv: ServerInfo, node: str, directory: Path) -> ssl.SSLContext:
    """A client certificate of the fleet CA for `system:node:<node>` with clientAuth: what a
    node enrolled with a client certificate holds (made here with the CA's key)."""
    ca = x509.load_pem_x509_certificate(srv.ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key((srv.data_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "node.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "node.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(cafile=str(srv.ca_file))
    ctx.check_hostname = False
    ctx.load_cert_chain(directory / "node.crt", directory / "node.key")
    return ctx


def _serving_cert_as_client(srv: ServerInfo, state_dir: Path) -> ssl.SSLContext:
    """The agent's own serving certificate and key offered as a client certificate."""
    ctx = ssl.create_default_context(cafile=str(srv.ca_file))
    ctx.check_hostname = False
    ctx.load_cert_chain(state_dir / "pki" / "serving.crt", state_dir / "pki" / "serving.key")
    return ctx


async def _try(context: ssl.SSLContext, url: str, headers: dict[str, str]) -> tuple[int, int]:
    """(logs status, exec handshake status) of one caller; a TLS refusal raises."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        async with http.get(f"{url}/containerLogs/default/web-n1/c", headers=headers) as r:
            logs = r.status
        try:
            async with http.ws_connect(
                f"{url}/exec/default/web-n1/c",
                params=EXEC,
                headers=headers,
                protocols=["v5.channel.k8s.io"],
            ) as ws:
                messages = [m.data async for m in ws]
                assert messages[0] == b"\x01hi\n", messages
                return logs, 101
        except aiohttp.WSServerHandshakeError as e:
            return logs, e.status


async def test_the_serving_port_answers_only_the_servers_client_certificate(
    tmp_path: Path,
) -> None:
    """Logs and exec on the agent's serving port: no client certificate 401 (a node's bearer
    token or the admin token change nothing), a node's client certificate 403, the node's own
    serving certificate offered as a client one: refused in the handshake, plain HTTP: no
    answer; the server's kubelet-client certificate: the log and the command's output."""
    async with running_server(tmp_path / "data") as srv:
        agent = await _fake_agent(srv, "n1", tmp_path)
        state_dir = tmp_path / "n1"
        async with serving_port(srv, agent.app_, node="n1", state_dir=state_dir) as port:
            url = f"https://127.0.0.1:{port}"
            anonymous = srv.ssl_context()
            rows: list[tuple[str, ssl.SSLContext, dict[str, str], tuple[int, int]]] = [
                ("no credential", anonymous, {}, (401, 401)),
                ("node token", anonymous, {"Authorization": f"Bearer {srv.node_token('n1')}"},
                 (401, 401)),
                ("admin token", anonymous, {"Authorization": f"Bearer {srv.admin_token}"},
                 (401, 401)),
                ("node client cert", _node_client_ssl(srv, "n1", tmp_path / "nc"), {}, (403, 403)),
                ("server", srv.kubelet_client_ssl(), {}, (200, 101)),
            ]  # fmt: skip
            for what, context, headers, expected in rows:
                assert await _try(context, url, headers) == expected, what
            with pytest.raises(aiohttp.ClientError):
                await _try(_serving_cert_as_client(srv, state_dir), url, {})
            with pytest.raises(aiohttp.ClientError):
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{port}/containerLogs/default/web-n1/c") as r,
                ):
                    raise AssertionError(f"plain HTTP answered {r.status}")
            connector = aiohttp.TCPConnector(ssl=srv.kubelet_client_ssl())
            async with aiohttp.ClientSession(connector=connector) as http:
                for path in ("/pods", "/metrics"):
                    async with http.get(url + path) as r:
                        assert r.status == 200, path


async def _pod_log(srv: ServerInfo, pod: str) -> tuple[int, Obj | str]:
    url = f"{srv.url}/api/v1/namespaces/default/pods/{pod}/log"
    async with (
        srv.session() as http,
        asyncio.timeout(30),  # a refusal, never a hang
        http.get(url) as r,
    ):
        text = await r.text()
        return r.status, (json.loads(text) if r.status != 200 else text)


async def test_the_proxy_requires_the_pods_node_certificate(tmp_path: Path) -> None:
    """kubectl logs through the server reaches n1's agent; a node whose status names n1's
    agent's address gets a 503 saying the agent there is not its own (node-a cannot stand in
    for node-b); an agent with a certificate of another fleet's CA: a 503 naming the TLS
    failure; a node whose agent has no serving port yet: a 503 naming the node."""
    async with running_server(tmp_path / "data") as srv:
        one = await _fake_agent(srv, "n1", tmp_path / "a1")
        two = await _fake_agent(srv, "n2", tmp_path / "a2")
        async with serving_port(srv, one.app_, node="n1", state_dir=tmp_path / "n1") as port:
            await _advertise(srv, "n1", port)
            assert await _pod_log(srv, "web-n1") == (200, LOGS.decode())
            await _advertise(srv, "n2", port)  # n2 claims n1's agent's address
            code, status = await _pod_log(srv, "web-n2")
            assert code == 503
            assert isinstance(status, dict)
            assert status["reason"] == "ServiceUnavailable"
            assert "is not node n2's: TLS verification failed" in status["message"]
            assert '"system:node:n1", not "system:node:n2"' in status["message"]
        async with (
            running_server(tmp_path / "other") as other,  # another fleet: another CA
            serving_port(other, two.app_, node="n2", state_dir=tmp_path / "n2") as port,
        ):
            await _advertise(srv, "n2", port)
            code, status = await _pod_log(srv, "web-n2")
            assert code == 503
            assert isinstance(status, dict)
            assert "the agent of node n2 at 127.0.0.1:" in status["message"]
            assert "failed TLS verification: " in status["message"]  # OpenSSL's reason follows
        await _advertise(srv, "n2", 0)
        code, status = await _pod_log(srv, "web-n2")
        assert code == 503
        assert isinstance(status, dict)
        assert "no agent endpoint is known for node n2" in status["message"]
        assert two.state.serving_port == 0


async def _served_serial(port: int, context: ssl.SSLContext) -> int:
    """The serial number of the certificate the serving port presents to a new connection."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).serial_number
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def test_the_serving_certificate_renews_without_a_restart(tmp_path: Path) -> None:
    """With 6 s certificates the agent asks for a new one at 70-90 % of the first's life and
    serves it on the same port to new connections; logs still come through the server."""
    async with running_server(tmp_path / "data", cluster_signing_seconds=6.0) as srv:
        agent = await _fake_agent(srv, "n1", tmp_path)
        async with serving_port(srv, agent.app_, node="n1", state_dir=tmp_path / "n1") as port:
            await _advertise(srv, "n1", port)
            client = srv.kubelet_client_ssl()
            first = await _served_serial(port, client)

            async def renewed() -> int | None:
                serial = await _served_serial(port, client)
                return serial if serial != first else None

            await wait_for(renewed, timeout=30, interval=0.5, message="a renewed certificate")
            assert await _pod_log(srv, "web-n1") == (200, LOGS.decode())


async def test_without_a_ca_file_the_port_stays_closed(tmp_path: Path) -> None:
    """An agent with no CA file cannot verify the server's client certificate: it does not
    open its serving port (its Node then advertises port 0) and says why."""
    state = AgentState(node_name="n1")
    port = ServingPort(
        app=make_serving_app(state=state, runtime_of=lambda: None, metrics_=AgentMetrics()),
        state=state,
        node_name="n1",
        state_dir=str(tmp_path),
        ca_file=None,
        host="127.0.0.1",
        port=0,
        names=["127.0.0.1"],
    )
    client = ApiClient(server_url="https://127.0.0.1:1", token="unused")
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(port.run(client), timeout=10)
    await client.close()
    assert state.serving_port == 0
    assert [e["event"] for e in logs] == ["serving_port_disabled"]
    assert "no --ca-file" in logs[0]["reason"]
    assert not (tmp_path / "pki").exists()
