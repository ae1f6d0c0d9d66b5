"""ConfigMaps, Secrets and the downward API end to end: the real kubectl, the real server, a
real agent process and real containers (the session's private podman service).

The agent fetches only what its pods reference (a watch per object by name, which the node
authorizer allows), mounts it, updates it when it is edited, keeps a container waiting with
CreateContainerConfigError while a reference is missing, and never writes a Secret's value to
its log, its checkpoint or /pods.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nodeagent.api.bodies import Obj
from tests.integration.kubectl.agentprocess import agent_process
from tests.integration.kubectl.conftest import Cluster, wait_for
from tests.support import leaks
from tests.support.podman import PodmanService

pytestmark = pytest.mark.podman
NAMESPACE = "agent-config"
SECRET_VALUE = "pa55-Wq8zRt3nVx6Lk"


@dataclass(kw_only=True)
class Host:
    cluster: Cluster
    node: str
    root: Path
    image: str

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl("-n", NAMESPACE, *args, stdin=stdin)

    def apply(self, obj: Obj) -> None:
        result = self.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
        assert result.returncode == 0, result.stderr

    def pod(self, name: str) -> Obj:
        return self.cluster.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")

    def running(self, name: str) -> bool:
        return (self.pod(name).get("status") or {}).get("phase") == "Running"

    def cat(self, pod: str, path: str) -> str | None:
        result = self.kubectl("exec", pod, "--", "cat", path)
        return result.stdout if result.returncode == 0 else None


def pod(host: Host, name: str, *, env: list[Obj], volumes: list[Obj], mounts: list[Obj]) -> Obj:
    script = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
    container = {
        "name": "main",
        "image": host.image,
        "command": ["/bin/sh", "-c", script],
        "env": env,
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {
            "nodeName": host.node,
            "hostNetwork": True,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
            "volumes": volumes,
        },
    }


@pytest.fixture(scope="module")
def host(
    cluster: Cluster,
    podman_service: PodmanService,
    busybox: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Host]:
    root = tmp_path_factory.mktemp("config-host")
    node = f"config-host-{os.getpid()}"
    with agent_process(cluster, podman_service, root=root, node=node):
        cluster.namespace(NAMESPACE)
        try:
            yield Host(cluster=cluster, node=node, root=root, image=busybox)
        finally:
            for name in ("web", "late"):
                cluster.api("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}", {})


def test_volume_env_and_downward_api_then_an_edit(host: Host) -> None:
    """A ConfigMap volume, a Secret in env and the downward API reach the container; editing
    the ConfigMap changes the mounted file within 10 s; the Secret's value is neither in the
    agent's log nor in its state files outside the pod's volumes (the checkpoint keeps the
    reference)."""
    leaks.remember_secret(SECRET_VALUE, "a Secret's value")  # every log is scanned at the end
    created = host.kubectl("create", "configmap", "web-config", "--from-literal=app.conf=port=80")
    assert created.returncode == 0, created.stderr
    secret = host.kubectl("create", "secret", "generic", "web-secret",
                          f"--from-literal=password={SECRET_VALUE}")  # fmt: skip
    assert secret.returncode == 0, secret.stderr
    env = [{"name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "web-secret", "key": "password"}}}]  # fmt: skip
    volumes = [
        {"name": "config", "configMap": {"name": "web-config"}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
    ]  # fmt: skip
    mounts = [{"name": "config", "mountPath": "/etc/web"},
              {"name": "info", "mountPath": "/etc/podinfo"}]  # fmt: skip
    host.apply(pod(host, "web", env=env, volumes=volumes, mounts=mounts))
    wait_for(lambda: host.running("web"), timeout=60, what=f"web Running: {host.root}/agent.log")
    assert host.cat("web", "/etc/web/app.conf") == "port=80"
    assert host.cat("web", "/etc/podinfo/labels") == 'app="web"'
    printed = host.kubectl("exec", "web", "--", "/bin/sh", "-c", 'printf %s "$PASSWORD"')
    assert printed.stdout == SECRET_VALUE

    patch = json.dumps({"data": {"app.conf": "port=8080"}})
    edited = host.kubectl("patch", "configmap", "web-config", "-p", patch)
    assert edited.returncode == 0, edited.stderr
    wait_for(lambda: host.cat("web", "/etc/web/app.conf") == "port=8080", timeout=10,
             what="the edited ConfigMap in the mounted file")  # fmt: skip

    assert SECRET_VALUE not in (host.root / "agent.log").read_text()
    for path in (host.root / "state").rglob("*"):
        if path.is_file() and not path.is_symlink() and "volumes" not in path.parts:
            assert SECRET_VALUE.encode() not in path.read_bytes(), path
    checkpoint = (host.root / "state" / "api-pods.checkpoint.json").read_text()
    assert "web-secret" in checkpoint  # the reference is kept, not the value


def test_missing_config_map_waits_with_an_event_then_runs(host: Host) -> None:
    """A missing ConfigMap: the container waits with CreateContainerConfigError naming it and a
    Warning Failed event; once the ConfigMap exists the pod runs."""
    env = [
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "late-config", "key": "mode"}}}
    ]
    host.apply(pod(host, "late", env=env, volumes=[], mounts=[]))

    def waiting() -> Obj | None:
        statuses = (host.pod("late").get("status") or {}).get("containerStatuses") or []
        state = (statuses[0].get("state") or {}).get("waiting") if statuses else None
        return state if state and state.get("reason") == "CreateContainerConfigError" else None

    state = wait_for(waiting, timeout=60, what="CreateContainerConfigError on the server")
    assert state["message"] == 'configmap "late-config" not found'

    def failed_event() -> bool:
        events = host.kubectl("get", "events", "--field-selector", "involvedObject.name=late",
                              "-o", "json")  # fmt: skip
        return any(
            e["type"] == "Warning"
            and e["reason"] == "Failed"
            and e["message"] == 'Error: configmap "late-config" not found'
            for e in json.loads(events.stdout or '{"items": []}')["items"]
        )

    wait_for(failed_event, timeout=30, what="the Warning Failed event")
    described = host.kubectl("describe", "pod", "late")
    assert "CreateContainerConfigError" in described.stdout

    created = host.kubectl("create", "configmap", "late-config", "--from-literal=mode=fast")
    assert created.returncode == 0, created.stderr
    wait_for(
        lambda: host.running("late"), timeout=30, what="late Running once its ConfigMap exists"
    )
    printed = host.kubectl("exec", "late", "--", "/bin/sh", "-c", 'printf %s "$MODE"')
    assert printed.stdout == "fast"


def test_a_volume_kind_the_agent_cannot_mount_shows_in_describe(host: Host) -> None:
    """A persistentVolumeClaim volume: the pod runs without it, and `kubectl describe pod`
    says why (a Warning NotSupported event from the agent), not only the agent's log."""
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    mounts = [{"name": "data", "mountPath": "/data"}]
    host.apply(pod(host, "claim", env=[], volumes=volumes, mounts=mounts))
    try:
        wait_for(lambda: host.running("claim"), timeout=60, what="claim Running")
        expected = "volume data of type persistentVolumeClaim is not supported; not mounted"

        def described() -> str | None:
            out = host.kubectl("describe", "pod", "claim").stdout
            return out if expected in out else None

        out = wait_for(described, timeout=30, what="the NotSupported event in describe")
        assert "NotSupported" in out
    finally:
        host.cluster.api("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/claim", {})
