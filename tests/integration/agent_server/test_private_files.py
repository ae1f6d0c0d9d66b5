"""Files on disk, after a real server and a real agent started (docs/security.md "Files on disk"):
secrets and state 0600 in 0700 directories, looser directories tightened with a warning, and
containers still using their hostPath and emptyDir volumes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from tests.support.agentprocess import agent_process
from tests.support.podman import PodmanService
from tests.support.server import start_server_process
from tests.support.wait import wait_for

pytestmark = pytest.mark.podman


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _volumes_pod(node: str, image: str, host_dir: Path) -> Obj:
    """A pod with a hostPath and an emptyDir: one container as root writes to both, one as
    uid 1000 writes to the emptyDir; an env value stands for a secret the checkpoint holds."""

    def container(name: str, script: str, **extra: Any) -> Obj:
        return {
            "name": name,
            "image": image,
            "imagePullPolicy": "Never",
            "command": ["/bin/sh", "-c", script + " && exec sleep 3600"],
            "env": [{"name": "DB_PASSWORD", "value": "hunter2"}],
            "volumeMounts": [
                {"name": "host", "mountPath": "/host"},
                {"name": "scratch", "mountPath": "/scratch"},
            ],
            **extra,
        }

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "volumes", "namespace": "default"},
        "spec": {
            "nodeName": node,
            "hostNetwork": True,
            "terminationGracePeriodSeconds": 1,
            "volumes": [
                {"name": "host", "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"}},
                {"name": "scratch", "emptyDir": {}},
            ],
            "containers": [
                container("root", "echo root > /host/by-root && echo root > /scratch/by-root"),
                container(
                    "user",
                    "echo user > /scratch/by-user",
                    securityContext={"runAsUser": 1000, "runAsGroup": 1000},
                ),
            ],
        },
    }


def _tightened(log_text: str, path: Path) -> list[Obj]:
    """The permissions_tightened warnings for `path` in a JSON-lines log."""
    out = []
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "permissions_tightened" and entry.get("path") == str(path):
            out.append(entry)
    return out


async def test_secrets_and_state_are_private_and_volumes_still_work(
    podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    """A server and an agent started on 0755 directories tighten them to 0700 with a warning;
    every token, key, kubeconfig, store file and the checkpoint is 0600 (certificates 0644);
    containers as root and as uid 1000 still write to their hostPath and emptyDir."""
    data, state = tmp_path / "server", tmp_path / "agent" / "state"
    for d in (data, state):
        d.mkdir(parents=True)
        d.chmod(0o755)
    node = f"files-{os.getpid()}"
    srv = start_server_process(data)
    try:
        with agent_process(srv, podman_service, root=tmp_path / "agent", node=node) as agent:
            async with srv.session() as http:
                pods = f"{srv.url}/api/v1/namespaces/default/pods"
                pod = _volumes_pod(node, busybox, tmp_path / "host")
                async with http.post(pods, json=pod) as resp:
                    assert resp.status == 201, await resp.text()
                    uid = (await resp.json())["metadata"]["uid"]
            scratch = state / "pods" / uid / "volumes" / "scratch"
            await wait_for(
                lambda: (scratch / "by-user").is_file() and (tmp_path / "host/by-root").is_file(),
                timeout=60,
                message="both containers wrote to their volumes",
            )
            checkpoint = state / "api-pods.checkpoint.json"
            await wait_for(
                lambda: checkpoint.is_file() and uid in checkpoint.read_text(),
                timeout=30,
                message="the agent checkpointed the server's pod",
            )
            assert "hunter2" in checkpoint.read_text()  # why the checkpoint must be private
            assert (scratch / "by-user").stat().st_uid == 1000
            assert _mode(scratch) == 0o777
            assert _mode(state) == 0o700
            assert _mode(checkpoint) == 0o600
            for path in state.rglob("*"):  # credentials too, in whatever subdirectory
                if path.relative_to(state).parts[0] == "pods":
                    continue  # the pods' volumes: see above
                want = 0o700 if path.is_dir() else 0o644 if path.suffix == ".crt" else 0o600
                assert _mode(path) == want, path
            agent_log = agent.logs()
        files = {p.name: _mode(p) for p in data.iterdir() if p.is_file()}  # while it runs
        data_mode = _mode(data)
    finally:
        srv.stop()
    assert srv.log_path is not None
    server_log = srv.log_path.read_text()

    assert data_mode == 0o700
    secrets = {
        "admin-token", "node-token", "admin.kubeconfig", "ca.key", "tls.key",
        "store.db", "store.db-wal", "store.db-shm",
    }  # fmt: skip
    assert secrets <= set(files)
    private = {name: mode for name, mode in files.items() if not name.endswith(".crt")}
    assert private == dict.fromkeys(private, 0o600)
    assert files["ca.crt"] == files["tls.crt"] == 0o644
    for log_text, path in ((server_log, data), (agent_log, state)):
        warnings = _tightened(log_text, path)
        assert [(w["level"], w["mode_before"], w["mode"]) for w in warnings] == [
            ("warning", "0755", "0700")
        ], log_text[-3000:]
