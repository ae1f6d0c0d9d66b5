"""Pods that talk to the API: a real server (`--pod-address` on podman's bridge gateway), a real
agent process, real containers.

A pod gets the token volume at /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt,
namespace) and KUBERNETES_SERVICE_HOST/PORT naming the server where it reaches it. The official
Python client's `load_incluster_config()` runs *inside* the containers: busybox has no Python,
so the pods mount the host's Python installation, this virtualenv (with the `kubernetes`
package) and the C library read-only by hostPath at the same paths (no image with Python is
available offline); the client reads only the pod's own files and environment.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from tests.integration.kubectl.conftest import Cluster
from tests.support.agentprocess import AgentProcess, agent_process
from tests.support.podman import PodmanService, bridge_gateway
from tests.support.server import start_server_process
from tests.support.wait import wait_until

pytestmark = pytest.mark.podman
NODE = "incluster-node"
NS = "incluster"
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
SLEEP = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
# what the in-pod Python needs from the host, read-only at the same paths
HOST_PATHS = tuple(dict.fromkeys(("/usr", "/lib", "/lib64", sys.base_prefix, sys.prefix)))
PYTHON = str(Path(sys.prefix) / "bin" / "python")


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, podman_service: PodmanService, busybox: str
) -> Iterator[tuple[Cluster, AgentProcess, str]]:
    """The server on loopback and on the bridge gateway, one agent, the namespace."""
    root = tmp_path_factory.mktemp("incluster")
    gateway = bridge_gateway(podman_service)
    server = start_server_process(root / "data", "--pod-address", gateway)
    cluster = Cluster(server=server, cache_dir=root / "kube-cache", files=root / "files")
    try:
        with agent_process(server, podman_service, root=root / "agent", node=NODE) as agent:
            cluster.namespace(NS)
            yield cluster, agent, busybox
    finally:
        server.stop()


def python_pod(name: str, image: str, script: str, **spec: Any) -> Obj:
    """A pod whose container runs `script` with the host's Python and this venv."""
    mounts = [
        {"name": f"host-{i}", "mountPath": p, "readOnly": True} for i, p in enumerate(HOST_PATHS)
    ]
    volumes = [{"name": f"host-{i}", "hostPath": {"path": p, "type": "Directory"}}
               for i, p in enumerate(HOST_PATHS)]  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "command": [PYTHON, "-u", "-c", script],
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
            **spec,
        },
    }


def sleeper(name: str, image: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "command": ["/bin/sh", "-c", SLEEP]}],
            **spec,
        },
    }


def create(cluster: Cluster, pod: Obj) -> None:
    result = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    assert result.returncode == 0, result.stderr


def logs_with(cluster: Cluster, pod: str, text: str) -> str:
    def check() -> str | None:
        out = cluster.kubectl("logs", pod, "-n", NS).stdout
        return out if text in out else None

    try:
        return wait_until(check, timeout=60, message=f"{text!r} in the logs of {pod}")
    except AssertionError as e:
        described = cluster.kubectl("describe", "pod", pod, "-n", NS).stdout
        logs = cluster.kubectl("logs", pod, "-n", NS)
        raise AssertionError(f"{e}\n{described}\n{logs.stdout}{logs.stderr}") from None


def running(cluster: Cluster, pod: str) -> Obj:
    def check() -> Obj | None:
        obj = cluster.get(f"/api/v1/namespaces/{NS}/pods/{pod}")
        return obj if (obj.get("status") or {}).get("phase") == "Running" else None

    return wait_until(check, timeout=60, message=f"pod {pod} Running")


INCLUSTER = """
import os
from kubernetes import client, config
config.load_incluster_config()
print("host", os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
print("namespace", open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read())
print("version", client.VersionApi().get_code().git_version)
try:
    client.CoreV1Api().list_namespaced_pod(os.environ.get("NS", "incluster"))
    print("list pods: ok")
except client.ApiException as e:
    print("list pods:", e.status)
print("done", flush=True)
"""


def test_incluster_config_inside_a_pod(setup: tuple[Cluster, AgentProcess, str]) -> None:
    """The admission's kube-api-access volume (token, ca.crt, namespace) and the variables:
    load_incluster_config() in the container connects to the bridge gateway, verifies the
    server's certificate with ca.crt (the address is in its names) and is authenticated as the
    pod's ServiceAccount."""
    cluster, _agent, image = setup
    create(cluster, python_pod("client", image, INCLUSTER))
    pod = cluster.get(f"/api/v1/namespaces/{NS}/pods/client")
    volume = next(v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-"))
    assert volume["projected"]["sources"][0] == {
        "serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}
    }
    assert {"name": volume["name"], "readOnly": True, "mountPath": MOUNT} in pod["spec"][
        "containers"
    ][0]["volumeMounts"]
    out = logs_with(cluster, "client", "done")
    assert f"host {bridge_gateway_of(setup)} " in out
    assert "namespace incluster" in out
    assert "version v" in out
    assert "list pods:" in out


def bridge_gateway_of(setup: tuple[Cluster, AgentProcess, str]) -> str:
    cluster, _agent, _image = setup
    return str(cluster.server.args[cluster.server.args.index("--pod-address") + 1])


def test_automount_false_gives_no_volume_but_the_variables(
    setup: tuple[Cluster, AgentProcess, str],
) -> None:
    """automountServiceAccountToken: false: no token volume, nothing at the path; the
    KUBERNETES_SERVICE_* variables are still set (as kubelet sets them)."""
    cluster, _agent, image = setup
    create(cluster, sleeper("no-token", image, automountServiceAccountToken=False))
    pod = running(cluster, "no-token")
    assert not [v for v in pod["spec"].get("volumes") or [] if v["name"].startswith("kube-api")]
    listed = cluster.kubectl("exec", "no-token", "-n", NS, "--", "ls", MOUNT)
    assert listed.returncode != 0
    env = cluster.kubectl("exec", "no-token", "-n", NS, "--", "env", check=True).stdout
    assert f"KUBERNETES_SERVICE_HOST={bridge_gateway_of(setup)}\n" in env
    assert f"KUBERNETES_SERVICE_PORT={cluster.server.url.rsplit(':', 1)[1]}\n" in env


def test_token_files_on_a_tmpfs(setup: tuple[Cluster, AgentProcess, str]) -> None:
    """The token is a JWT, ca.crt is the server's CA, namespace the pod's; the volume is a
    tmpfs on the host (never on the disk) and read-only in the container."""
    cluster, agent, image = setup
    create(cluster, sleeper("files", image))
    pod = running(cluster, "files")

    def cat(name: str) -> str:
        return cluster.kubectl("exec", "files", "-n", NS, "--", "cat", f"{MOUNT}/{name}",
                               check=True).stdout  # fmt: skip

    assert cat("token").startswith("eyJ")
    assert cat("ca.crt") == cluster.server.ca_file.read_text()
    assert cat("namespace") == NS
    write = cluster.kubectl("exec", "files", "-n", NS, "--", "touch", f"{MOUNT}/x")
    assert write.returncode != 0
    volume = next(v["name"] for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api"))
    target = agent.state_dir / "pods" / pod["metadata"]["uid"] / "volumes" / volume
    mounts = Path("/proc/self/mountinfo").read_text()
    assert f" {target} " in mounts


NPD = """
import datetime, os, time
from kubernetes import client, config
config.load_incluster_config()
core = client.CoreV1Api()
node = os.environ["NODE_NAME"]
while True:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {"type": "KernelDeadlock", "status": "False", "reason": "KernelHasNoDeadlock",
                 "message": "kernel has no deadlock", "lastHeartbeatTime": now,
                 "lastTransitionTime": now}
    try:
        core.patch_node_status(node, {"status": {"conditions": [condition]}},
                               _content_type="application/strategic-merge-patch+json")
        core.create_namespaced_event("default", {
            "metadata": {"name": "%s.%x" % (node, time.time_ns())},
            "involvedObject": {"kind": "Node", "name": node, "uid": node},
            "reason": "NodeProblemDetectorStarted", "type": "Normal",
            "message": "Starting node problem detector", "source": {"component": "npd"}})
        print("condition set", flush=True)
        break
    except client.ApiException as e:
        print("patch failed:", e.status, e.reason, flush=True)
    time.sleep(1)
while True:
    time.sleep(3600)
"""


def npd_objects(image: str) -> list[Obj]:
    """node-problem-detector's shape: its ServiceAccount, ClusterRole, DaemonSet."""
    pod = python_pod("npd", image, NPD, serviceAccountName="npd")
    spec = pod["spec"]
    del spec["nodeName"]
    spec["nodeSelector"] = {"kubernetes.io/hostname": NODE}
    spec["containers"][0]["env"] = [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "npd", "namespace": NS},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "incluster-npd"},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
                {
                    "apiGroups": [""],
                    "resources": ["events"],
                    "verbs": ["create", "patch", "update"],
                },
            ],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "npd", "namespace": NS},
            "spec": {
                "selector": {"matchLabels": {"app": "npd"}},
                "template": {"metadata": {"labels": {"app": "npd"}}, "spec": spec},
            },
        },
    ]


BINDING: Obj = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "incluster-npd"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "incluster-npd",
    },
    "subjects": [{"kind": "ServiceAccount", "name": "npd", "namespace": NS}],
}


def test_node_problem_detector_sets_its_node_condition(
    setup: tuple[Cluster, AgentProcess, str],
) -> None:
    """A DaemonSet in node-problem-detector's style, with only the mounted token and the
    variables: without its ClusterRoleBinding the container logs 403 and the node is
    unchanged; once bound, its condition shows in `kubectl get node -o yaml`."""
    cluster, _agent, image = setup
    for obj in npd_objects(image):
        create(cluster, obj)

    def npd_pod() -> str | None:
        pods = cluster.pods(NS, "app=npd")
        return str(pods[0]["metadata"]["name"]) if pods else None

    name = wait_until(npd_pod, timeout=30, message="the npd DaemonSet's pod")
    out = logs_with(cluster, name, "patch failed: 403 Forbidden")
    assert "condition set" not in out
    node = cluster.get(f"/api/v1/nodes/{NODE}")
    assert "KernelDeadlock" not in [c["type"] for c in node["status"]["conditions"]]

    create(cluster, BINDING)
    logs_with(cluster, name, "condition set")
    shown = cluster.kubectl("get", "node", NODE, "-o", "yaml", check=True).stdout
    assert "type: KernelDeadlock" in shown
    assert "reason: KernelHasNoDeadlock" in shown


VIEWER = """
from kubernetes import client, config
config.load_incluster_config()
api = client.CoreV1Api()
print("all pods:", len(api.list_pod_for_all_namespaces().items) > 0)
try:
    api.delete_namespaced_pod("client", "incluster")
    print("delete: ok")
except client.ApiException as e:
    print("delete:", e.status)
print("done", flush=True)
"""


def test_a_view_bound_pod_lists_everywhere_and_may_not_delete(
    setup: tuple[Cluster, AgentProcess, str],
) -> None:
    """A pod of a ServiceAccount bound to `view` (the read-only way in of docs/operations.md),
    with only its mounted token: pods in all namespaces listed, a delete answered 403."""
    cluster, _agent, image = setup
    for args in (
        ("create", "serviceaccount", "viewer", "-n", NS),
        ("create", "clusterrolebinding", "incluster-viewer", "--clusterrole=view",
         f"--serviceaccount={NS}:viewer"),
    ):  # fmt: skip
        result = cluster.kubectl(*args)
        assert result.returncode == 0, result.stderr
    create(cluster, python_pod("viewer", image, VIEWER, serviceAccountName="viewer"))
    out = logs_with(cluster, "viewer", "done")
    assert "all pods: True" in out
    assert "delete: 403" in out
