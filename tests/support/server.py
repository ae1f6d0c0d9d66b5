"""Start the real `nodeagent server` on 127.0.0.1 for tests: in this event loop or as a process.

In-process (fast, function-scoped loops):

    async with running_server(tmp_path) as srv:       # srv: ServerInfo
        async with srv.session() as http:             # aiohttp session: admin token, CA trusted
            await http.get(srv.url + "/api/v1/nodes")

As a subprocess (`python -m nodeagent server`; sync, so it also fits session fixtures):

    srv = start_server_process(tmp_path / "data")     # waits until /readyz answers
    ...  srv.kill() / srv.stop() / srv.restart()

Both give the URL, the admin token, the CA file, DIR/admin.kubeconfig and the node join
secret; `srv.node_token("n1")` is a fresh bearer token for node n1, issued by the server (minted
through the in-process handle, or asked of a process with the admin token: see
server/credentials.py), revoked like any other when the node is deleted. `srv.enrol("n1",
password)` enrols as an agent does, with the join secret. Both register their secrets and logs
with tests/support/leaks.py, which fails the session if a token shows up in a log.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from nodeagent.server.credentials import NodeCredentials
from nodeagent.server.main import serve
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.settings import ServerSettings
from tests.support import leaks

ROOT = Path(__file__).resolve().parents[2]


def hmac_node_token(join_secret: str, node_name: str) -> str:
    """A node token of the scheme before enrolment, HMAC(join secret, node name), which the
    server must refuse (tests of the upgrade)."""
    mac = hmac.new(join_secret.encode(), node_name.encode(), hashlib.sha256).hexdigest()
    return f"node.{node_name}.{mac}"


@dataclass(kw_only=True)
class ServerInfo:
    url: str
    admin_token: str
    ca_file: Path
    kubeconfig: Path
    join_secret: str
    data_dir: Path
    registry: StoreRegistry | None = None  # in-process only: the server's own registry
    credentials: NodeCredentials | None = None  # in-process only: its node credentials

    def node_token(self, node_name: str) -> str:
        """A live bearer token for `node_name` (a new one each call)."""
        if self.credentials is not None:
            token = self.credentials.mint(node_name)
        else:
            status, reply = self.post(f"/nodeagent.io/v1/nodes/{node_name}/token", token="admin")
            assert status == 201, reply
            token = str(reply["status"]["token"])
        leaks.remember_secret(token, "a node token")
        return token

    def enrol(self, node_name: str, password: str) -> tuple[int, dict[str, Any]]:
        """Enrol as an agent does (sync; a process server only); (HTTP status, reply)."""
        leaks.remember_secret(password, "a node password")
        body = {"nodeName": node_name, "nodePassword": password}
        status, reply = self.post("/nodeagent.io/v1/enrol", body, token=self.join_secret)
        if status == 201:
            leaks.remember_secret(str(reply["status"]["token"]), "a node token")
        return status, reply

    def post(
        self, path: str, body: dict[str, Any] | None = None, *, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """A blocking POST (token "admin" for the admin's); (HTTP status, JSON reply).
        Not for an in-process server: it would wait on its own event loop."""
        assert self.credentials is None, "in-process server: use an aiohttp session"
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {self.admin_token if token == 'admin' else token}"
        request = urllib.request.Request(
            self.url + path,
            method="POST",
            data=json.dumps(body or {}).encode(),
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, context=self.ssl_context(), timeout=30) as r:
                return int(r.status), json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read() or b"{}")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def kubelet_client_ssl(self) -> ssl.SSLContext:
        """TLS as the server's logs/exec proxy speaks it to an agent's serving port: the
        kubelet-client certificate, the fleet CA (no hostname check: the proxy checks the
        node's name in the certificate instead)."""
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "ca.crt"))
        ctx.check_hostname = False
        ctx.load_cert_chain(
            self.data_dir / "kubelet-client.crt", self.data_dir / "kubelet-client.key"
        )
        return ctx

    def session(self, token: str | None = "admin") -> aiohttp.ClientSession:
        """An aiohttp session that trusts the CA; token "admin" (default), a node token, or
        None for no Authorization header."""
        headers: dict[str, str] = {}
        if token is not None:
            value = self.admin_token if token == "admin" else token
            headers["Authorization"] = f"Bearer {value}"
        return aiohttp.ClientSession(
            headers=headers, connector=aiohttp.TCPConnector(ssl=self.ssl_context())
        )

    def kubectl_env(self) -> dict[str, str]:
        """Environment for running .venv/bin/kubectl against this server (private HOME)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["HOME"] = str(self.data_dir / "home")
        return env


@contextlib.asynccontextmanager
async def running_server(data_dir: Path, **overrides: Any) -> AsyncIterator[ServerInfo]:
    """The server in this event loop on 127.0.0.1 and a free port (HTTPS)."""
    settings = ServerSettings(
        data_dir=data_dir, listen_host="127.0.0.1", listen_port=0, gc_resync_seconds=1.0
    )
    settings = replace(settings, **overrides)
    async with serve(settings) as handle:
        assert handle.ca_file is not None
        leaks.remember(admin_token=handle.admin_token, join_secret=handle.join_secret)
        leaks.remember_log(settings.data_dir / "audit.log")
        yield ServerInfo(
            url=handle.url,
            admin_token=handle.admin_token,
            ca_file=handle.ca_file,
            kubeconfig=handle.kubeconfig,
            join_secret=handle.join_secret,
            data_dir=handle.data_dir,
            registry=handle.registry,
            credentials=handle.credentials,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(kw_only=True)
class ServerProcess(ServerInfo):
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> None:
        """Start the process (again, after kill/stop) and wait until it is ready."""
        self._start()

    def _start(self) -> None:
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nodeagent", "server", *self.args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        self.admin_token = (self.data_dir / "admin-token").read_text().strip()
        self.join_secret = (self.data_dir / "node-token").read_text().strip()
        leaks.remember(admin_token=self.admin_token, join_secret=self.join_secret)
        leaks.remember_log(self.log_path)
        leaks.remember_log(self.data_dir / "audit.log")

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"server exited ({self.process.returncode}): {self.logs()}")
            try:
                if self.ca_file.exists():
                    with urllib.request.urlopen(
                        self.url + "/readyz", context=self.ssl_context(), timeout=2
                    ) as r:
                        if r.status == 200:
                            return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready after {timeout}s: {self.logs()}")
            time.sleep(0.05)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)

    def restart(self) -> None:
        self.stop()
        self._start()


def start_server_process(
    data_dir: Path, *extra_args: str, port: int | None = None
) -> ServerProcess:
    """`python -m nodeagent server --data-dir DATA --listen 127.0.0.1:PORT`, ready to use."""
    port = port or free_port()
    srv = ServerProcess(
        url=f"https://127.0.0.1:{port}",
        admin_token="",
        ca_file=data_dir / "ca.crt",
        kubeconfig=data_dir / "admin.kubeconfig",
        join_secret="",
        data_dir=data_dir,
        args=["--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}", *extra_args],
    )
    srv._start()
    return srv
