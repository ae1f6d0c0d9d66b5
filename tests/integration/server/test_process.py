"""`python -m nodeagent server` as a process: kill -9 loses nothing, kubectl works, bad flags."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.server import objects
from tests.support.server import ROOT, ServerProcess, start_server_process

KUBECTL = Path(sys.executable).parent / "kubectl"
N = 25


def _request(srv: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        srv.url + path,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {srv.admin_token}",
            "Content-Type": "application/json",
        },
    )
    ctx = ssl.create_default_context(cafile=str(srv.ca_file))
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def process(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server_process(tmp_path / "data")
    yield srv
    srv.stop()


def test_kill_9_loses_no_acknowledged_write(process: ServerProcess) -> None:
    """N acknowledged creates survive SIGKILL with the same versions; new writes go above."""
    acked = {}
    for i in range(N):
        created = _request(process, "POST", "/api/v1/nodes", objects.node(f"n{i}"))
        acked[created["metadata"]["name"]] = created["metadata"]["resourceVersion"]
    process.kill()
    process.start()
    listed = _request(process, "GET", "/api/v1/nodes")
    assert {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in listed["items"]} == (
        acked
    )
    newest = max(int(v) for v in acked.values())
    assert int(listed["metadata"]["resourceVersion"]) >= newest
    after = _request(process, "POST", "/api/v1/nodes", objects.node("later"))
    assert (
        int(after["metadata"]["resourceVersion"]) == int(listed["metadata"]["resourceVersion"]) + 1
    )


def test_sigterm_exits_cleanly(process: ServerProcess) -> None:
    assert process.stop() == 0


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is not installed in the venv")
def test_kubeconfig_works_with_kubectl(process: ServerProcess) -> None:
    """`kubectl --kubeconfig DIR/admin.kubeconfig get nodes` and `get ns` need nothing else."""
    _request(process, "POST", "/api/v1/nodes", objects.node("worker-1"))
    env = {"HOME": str(process.data_dir / "home"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(process.kubeconfig), "get", "nodes"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert "worker-1" in result.stdout
    result = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(process.kubeconfig), "get", "namespaces", "-o", "name"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "namespace/kube-system" in result.stdout.split()


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--listen", "nonsense"], "--listen"),
        (["--node-monitor-grace-period", "soon"], "--node-monitor-grace-period"),
        (["--tls-cert-file", "/nonexistent.crt", "--tls-key-file", "/x.key"], "--tls-cert-file"),
        (["--log-level", "loud"], "--log-level"),
        (["--pod-gc-quarantine", "0s"], "--pod-gc-quarantine"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path: Path, flags: list[str], named: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nodeagent", "server", "--data-dir", str(tmp_path), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"nodeagent server: {named}:")


def test_restart_keeps_tokens_and_ca(process: ServerProcess) -> None:
    """A restarted server keeps its CA, tokens and kubeconfig, so clients keep working."""
    ca = process.ca_file.read_bytes()
    token = process.admin_token
    process.restart()
    assert process.ca_file.read_bytes() == ca
    assert process.admin_token == token
    assert _request(process, "GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default"


def test_pod_gc_quarantine_reaches_the_controllers(tmp_path: Path) -> None:
    """--pod-gc-quarantine is what the pod garbage collector is started with."""
    srv = start_server_process(tmp_path / "data", "--pod-gc-quarantine", "7s")
    try:
        deadline = time.monotonic() + 20
        while '"controllers_starting"' not in srv.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = [
            json.loads(line) for line in srv.logs().splitlines() if '"controllers_starting"' in line
        ]
        assert [e["pod_gc_quarantine"] for e in started] == [7.0]
    finally:
        srv.stop()
