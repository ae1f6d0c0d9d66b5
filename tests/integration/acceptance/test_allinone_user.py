"""`nodeagent all-in-one --data-dir DIR` as an operator meets it: the kubeconfig in DIR, and a
taken listen address answered with one line, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.packaging.test_allinone import ROOT, needs_podman, start_all_in_one
from tests.support.podman import PodmanService
from tests.support.server import free_port


@needs_podman
def test_kubeconfig_is_in_the_data_dir(tmp_path: Path, podman_service: PodmanService) -> None:
    """`kubectl --kubeconfig DIR/admin.kubeconfig get nodes` works (the server's own copy stays
    in DIR/server/)."""
    data_dir = tmp_path / "data"
    aio = start_all_in_one(data_dir, "--runtime-socket", podman_service.socket_path)
    try:
        link = data_dir / "admin.kubeconfig"
        assert link == aio.kubeconfig
        assert link.read_text() == (data_dir / "server" / "admin.kubeconfig").read_text()
        kubectl = str(Path(sys.executable).parent / "kubectl")
        got = subprocess.run(
            [kubectl, "--kubeconfig", str(link), "get", "nodes", "--no-headers"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert got.stdout.startswith("aio ")
    finally:
        assert aio.stop() == 0


@needs_podman
def test_listen_address_in_use_is_one_clear_line(
    tmp_path: Path, podman_service: PodmanService
) -> None:
    """Another process holds --listen: exit 1 with the address and the reason, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        got = subprocess.run(
            [sys.executable, "-m", "nodeagent", "all-in-one", "--data-dir", str(tmp_path / "d"),
             "--listen", f"127.0.0.1:{port}", "--agent-listen", f"127.0.0.1:{free_port()}",
             "--agent-serving-listen", "127.0.0.1:0",
             "--runtime-socket", podman_service.socket_path, "--log-level", "error"],
            cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
    assert got.returncode == 1, got.stderr
    assert "Traceback" not in got.stderr
    assert "nodeagent all-in-one: [Errno 98]" in got.stderr
    assert f"('127.0.0.1', {port}): address already in use" in got.stderr
