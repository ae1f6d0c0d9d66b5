"""ConfigMaps, Secrets and the downward API on real podman, from a manifest file (no server).

A file carries its ConfigMap and Secret beside its Pod: the container sees the ConfigMap's
file, the Secret in its environment and the downward API's files; an edit of the ConfigMap
reaches the mounted file within 10 s without restarting the container; a missing reference
keeps the container waiting with CreateContainerConfigError until the object is there. No
secret value reaches the agent's log, its state files or /pods.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog.testing
import yaml

from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService
from tests.support.wait import wait_for

from .conftest import Agent

pytestmark = pytest.mark.podman
SECRET_VALUE = "s3cr3t-Zq7wXv9Rk2"


def config_map(data: Obj, name: str = "web-config") -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "web-secret"},
    "stringData": {"password": SECRET_VALUE},
}


def web_pod(image: str, *, env: list[Obj] | None = None) -> Obj:
    script = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
    container = {
        "name": "main",
        "image": image,
        "command": ["/bin/sh", "-c", script],
        "env": env
        if env is not None
        else [
            {
                "name": "PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "web-secret", "key": "password"}},
            }
        ],
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/web", "readOnly": True},
            {"name": "info", "mountPath": "/etc/podinfo"},
            {"name": "config", "mountPath": "/etc/pinned.conf", "subPath": "app.conf"},
            {"name": "creds", "mountPath": "/etc/creds"},
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "hostNetwork": True,
            "terminationGracePeriodSeconds": 2,
            "containers": [container],
            "volumes": [
                {"name": "config", "configMap": {"name": "web-config"}},
                {"name": "creds", "secret": {"secretName": "web-secret", "defaultMode": 0o400}},
                {
                    "name": "info",
                    "downwardAPI": {
                        "items": [
                            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        ]
                    },
                },
            ],
        },
    }


def write_manifest(path: Path, *docs: Obj) -> None:
    """Multi-document YAML, 0600 as a file with a Secret must be."""
    text = yaml.safe_dump_all(docs)
    tmp = path.with_name("." + path.name)
    tmp.write_text(text)
    tmp.chmod(0o600)
    os.replace(tmp, path)


def run_in(podman: PodmanService, cid: str, script: str) -> str | None:
    out = podman.podman("exec", cid, "/bin/sh", "-c", script, check=False)
    return out.stdout if out.returncode == 0 else None


async def running_id(agent: Agent) -> str | None:
    pod = await agent.pod("web")
    if pod and pod["containers"] and pod["containers"][0]["state"] == "running":
        return str(pod["containers"][0]["id"]).removeprefix("docker://")
    return None


async def test_config_map_secret_and_downward_api_from_a_manifest_file(
    make_agent: Callable[..., Agent], podman_service: PodmanService, busybox: str
) -> None:
    """The container reads the file's ConfigMap, Secret and its own metadata; an edit of the
    ConfigMap reaches the mounted file (not the subPath one) within 10 s, same container."""
    agent = make_agent()
    path = agent.manifests / "web.yaml"
    write_manifest(path, config_map({"app.conf": "port=80"}), SECRET, web_pod(busybox))
    with structlog.testing.capture_logs() as logs:
        await agent.start()
        cid = await wait_for(lambda: running_id(agent), timeout=60, message="web runs")
        assert run_in(podman_service, cid, "cat /etc/web/app.conf") == "port=80"
        assert run_in(podman_service, cid, 'printf %s "$PASSWORD"') == SECRET_VALUE
        assert (
            run_in(podman_service, cid, "cat /etc/podinfo/name")
            == f"web-{agent.settings.node_name}"
        )
        assert run_in(podman_service, cid, "cat /etc/podinfo/labels") == 'app="web"'
        assert run_in(podman_service, cid, "readlink /etc/web/app.conf") == "..data/app.conf\n"
        assert run_in(podman_service, cid, "cat /etc/creds/password") == SECRET_VALUE
        assert run_in(podman_service, cid, "stat -L -c %a /etc/creds/password") == "400\n"
        [uid_dir] = (Path(agent.settings.state_dir) / "pods").iterdir()
        assert os.path.ismount(uid_dir / "volumes" / "creds")  # a tmpfs: never on the disk
        assert not os.path.ismount(uid_dir / "volumes" / "config")

        write_manifest(path, config_map({"app.conf": "port=8080"}), SECRET, web_pod(busybox))
        await wait_for(
            lambda: run_in(podman_service, cid, "cat /etc/web/app.conf") == "port=8080" or None,
            timeout=10,
            message="the edited ConfigMap reaches the mounted file",
        )
        assert await running_id(agent) == cid  # the container was not replaced
        assert run_in(podman_service, cid, "cat /etc/pinned.conf") == "port=80"  # subPath: kept
        view_text = (await agent.get("/pods"))[1]
        path.unlink()  # the pod goes: its secret volume's tmpfs is unmounted with its dir
        await wait_for(lambda: not uid_dir.exists() or None, timeout=30, message="pod dir gone")
        assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                    if str(uid_dir) in line]  # fmt: skip
    assert SECRET_VALUE not in view_text
    assert not [e for e in logs if SECRET_VALUE in repr(e)]
    for root, _dirs, names in os.walk(agent.settings.state_dir):
        for name in names:
            file = Path(root) / name
            if "volumes" in file.parts or file.is_symlink():
                continue  # the secret's own volume files are where it belongs
            assert SECRET_VALUE.encode() not in file.read_bytes(), file


async def test_missing_reference_waits_then_starts(
    make_agent: Callable[..., Agent], podman_service: PodmanService, busybox: str
) -> None:
    """A missing ConfigMap: CreateContainerConfigError naming it; the file gaining it: Running."""
    agent = make_agent()
    path = agent.manifests / "web.yaml"
    env = [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "mode"}}}]
    pod = web_pod(busybox, env=env)
    write_manifest(path, config_map({"app.conf": "x"}), SECRET, pod)
    await agent.start()

    async def waiting() -> Obj | None:
        found = await agent.pod("web")
        container = (found or {}).get("containers") or [{}]
        return container[0] if container[0].get("reason") == "CreateContainerConfigError" else None

    container = await wait_for(waiting, timeout=60, message="CreateContainerConfigError shows")
    assert container["message"] == 'configmap "late" not found'
    assert container["state"] == "waiting"

    late = config_map({"mode": "fast"}, "late")
    write_manifest(path, config_map({"app.conf": "x"}), SECRET, late, pod)
    cid = await wait_for(lambda: running_id(agent), timeout=30, message="web runs once late exists")
    assert run_in(podman_service, cid, 'printf %s "$MODE"') == "fast"
