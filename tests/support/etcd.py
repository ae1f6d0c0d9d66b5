"""Start Debian's etcd on 127.0.0.1 (free ports, its own data dir) for tests of the etcd store.

etcd = EtcdProcess.start(tmp_path / "etcd")   # waits until /health answers
etcd.endpoint        # "127.0.0.1:PORT"  (`nodeagent server --store etcd://` + endpoint)
etcd.wipe()          # delete every key (a clean keyspace for the next test)
etcd.stop() / etcd.kill() / etcd.start_again()
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.etcdtls import EtcdCerts, make_certs
from tests.support.server import free_port


def etcd_installed() -> bool:
    return shutil.which("etcd") is not None


@dataclass(kw_only=True)
class EtcdProcess:
    base: Path
    client_port: int
    peer_port: int
    process: subprocess.Popen[bytes] | None = None
    certs: EtcdCerts | None = None  # TLS with client certificates (--client-cert-auth)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.certs else 'http'}://{self.endpoint}"

    @classmethod
    def start(cls, base: Path, *, tls: bool = False) -> EtcdProcess:
        base.mkdir(parents=True, exist_ok=True)
        etcd = cls(base=base, client_port=free_port(), peer_port=free_port())
        if tls:
            etcd.certs = make_certs(base / "pki")
        etcd.start_again()
        return etcd

    def _tls_flags(self) -> list[str]:
        if self.certs is None:
            return []
        return [
            f"--cert-file={self.certs.server_cert}",
            f"--key-file={self.certs.server_key}",
            f"--trusted-ca-file={self.certs.ca}",
            "--client-cert-auth",
        ]

    def _context(self) -> ssl.SSLContext | None:
        if self.certs is None:
            return None
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        context.load_cert_chain(self.certs.client_cert, self.certs.client_key)
        return context

    def start_again(self) -> None:
        """(Re)start on the same ports and data dir and wait until it is healthy."""
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = (self.base / "etcd.log").open("ab")
        self.process = subprocess.Popen(
            [
                "etcd",
                "--name=test",
                f"--data-dir={self.base / 'data'}",
                f"--listen-client-urls={self.url}",
                f"--advertise-client-urls={self.url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=test={peer}",
                "--log-level=warn",
                *self._tls_flags(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"etcd exited: {self.logs()}")
            try:
                with urllib.request.urlopen(
                    self.url + "/health", timeout=2, context=self._context()
                ) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"etcd not healthy after 30 s: {self.logs()}")
            time.sleep(0.05)

    def logs(self) -> str:
        path = self.base / "etcd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5, context=self._context()) as r:
            answer: dict[str, object] = json.loads(r.read())
            return answer

    def wipe(self) -> None:
        """Delete every key."""
        self.post(
            "/v3/kv/deleterange",
            {
                "key": base64.b64encode(b"\x00").decode(),
                "range_end": base64.b64encode(b"\x00").decode(),
            },
        )

    def keys(self, prefix: str) -> list[str]:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        answer = self.post(
            "/v3/kv/range",
            {
                "key": base64.b64encode(prefix.encode()).decode(),
                "range_end": base64.b64encode(end.encode()).decode(),
                "keys_only": True,
            },
        )
        kvs = answer.get("kvs") or []
        assert isinstance(kvs, list)
        return [base64.b64decode(kv["key"]).decode() for kv in kvs]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
