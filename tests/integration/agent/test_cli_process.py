"""`nodeagent agent` as a process: sd_notify READY; SIGTERM stops it and leaves pods running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.podman import PodmanService
from tests.support.wait import wait_until

from .conftest import free_port, pod_yaml

pytestmark = pytest.mark.podman


def recv_until(sock: socket.socket, wanted: bytes) -> list[bytes]:
    """Datagrams up to and including the first one holding the line `wanted`."""
    seen: list[bytes] = []
    while True:
        data = sock.recv(256)
        seen.append(data)
        if wanted in data.split(b"\n"):
            return seen


def test_process_notifies_and_leaves_pods_on_sigterm(
    podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    """READY=1 and STATUS arrive over NOTIFY_SOCKET; SIGTERM sends STOPPING=1, exits 0, and
    the pod still runs."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "p.yaml").write_text(pod_yaml("p", busybox))
    node = f"it-proc-{os.getpid()}"
    listen = f"127.0.0.1:{free_port()}"
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(30)
    cmd = [
        sys.executable,
        "-m",
        "nodeagent",
        "agent",
        "--node-name",
        node,
        "--manifest-dir",
        str(manifests),
        "--state-dir",
        str(tmp_path / "state"),
        "--runtime-socket",
        podman_service.socket_path,
        "--listen",
        listen,
    ]
    env = {**os.environ, "NOTIFY_SOCKET": str(notify)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        recv_until(sock, b"READY=1")

        def container_id() -> str | None:
            with urllib.request.urlopen(f"http://{listen}/pods", timeout=2) as resp:
                pods = json.loads(resp.read())["pods"]
            for p in pods:
                if p["phase"] == "Running" and p["containers"][0]["state"] == "running":
                    return str(p["containers"][0]["id"])
            return None

        cid = wait_until(container_id, timeout=30, message="the pod runs under the agent process")
        recv_until(sock, b"STATUS=1/1 pods running")
        proc.send_signal(signal.SIGTERM)
        recv_until(sock, b"STOPPING=1")
        assert proc.wait(timeout=20) == 0
        state = podman_service.podman("inspect", "--format", "{{.State.Status}}", cid)
        assert state.stdout.strip() == "running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        podman_service.remove_node_containers(node)


def test_relative_state_dir_serves_empty_dir_volumes(
    podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    """Started with a relative --state-dir and --manifest-dir, the agent runs a pod whose
    emptyDir volume works: the paths were made absolute at load (the engine needs an absolute
    bind source), and the volume lives under the state dir."""
    (tmp_path / "manifests").mkdir()
    script = "echo written > /cache/file; trap 'exit 0' TERM; while true; do sleep 0.2; done"
    pod = json.loads(pod_yaml("ed", busybox, script=script))
    pod["spec"]["volumes"] = [{"name": "cache", "emptyDir": {}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "cache", "mountPath": "/cache"}]
    (tmp_path / "manifests" / "ed.yaml").write_text(json.dumps(pod))
    node = f"it-rel-{os.getpid()}"
    listen = f"127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "nodeagent", "agent", "--node-name", node,
           "--manifest-dir", "manifests", "--state-dir", "state",
           "--runtime-socket", podman_service.socket_path, "--listen", listen]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def running() -> bool:
            with urllib.request.urlopen(f"http://{listen}/pods", timeout=2) as resp:
                pods = json.loads(resp.read())["pods"]
            return any(p["phase"] == "Running" for p in pods)

        wait_until(running, timeout=30, message="the emptyDir pod runs")

        def written() -> list[str]:
            return [p.read_text() for p in (tmp_path / "state").glob("**/cache/file")]

        assert wait_until(written, timeout=10, message="the file in the emptyDir") == ["written\n"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        podman_service.remove_node_containers(node)
