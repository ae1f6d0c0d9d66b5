"""`python -m nodeagent server` under a Type=notify unit: READY=1, WATCHDOG=1, STOPPING=1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.server import ROOT, free_port


def _messages(sock: socket.socket, until: bytes) -> list[bytes]:
    """Datagrams received until one contains `until` (each recv waits at most 30 s)."""
    seen: list[bytes] = []
    while not seen or until not in seen[-1]:
        seen.append(sock.recv(4096))
    return seen


def test_server_notifies_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    """systemd hears READY=1 once the server listens, WATCHDOG=1 while it runs, STOPPING=1."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(30)
        env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
        env.pop("WATCHDOG_PID", None)
        data_dir = tmp_path / "data"
        port = free_port()  # on every address: the status names what is bound, 0.0.0.0:PORT
        argv = [sys.executable, "-m", "nodeagent", "server", "--data-dir", str(data_dir),
                "--listen", f"0.0.0.0:{port}"]  # fmt: skip
        with (tmp_path / "server.log").open("wb") as log:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            ready = _messages(sock, b"READY=1")[-1]
            assert f"STATUS=serving on 0.0.0.0:{port}".encode() in ready
            assert (data_dir / "admin.kubeconfig").exists()  # READY=1 only once it serves
            _messages(sock, b"WATCHDOG=1")
            _messages(sock, b"WATCHDOG=1")
            proc.send_signal(signal.SIGTERM)
            _messages(sock, b"STOPPING=1")
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
