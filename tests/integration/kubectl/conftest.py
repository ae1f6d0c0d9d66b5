"""One real `nodeagent server` for the kubectl suite, the real kubectl binary, and the agent's
side of the API (nodes, pod status) played over HTTPS with node tokens.

Each test works in its own namespace; DaemonSets select the suite's two nodes by the label
`kubectl-suite=yes`, so nodes that other tests add, label or taint never change their counts.
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.nodelabels import forbidden_node_labels
from tests.support.server import ServerProcess, start_server_process

T = TypeVar("T")
KUBECTL = Path(sys.executable).parent / "kubectl"
SUITE_NODES = ("suite-node-1", "suite-node-2")
SUITE_LABEL = {"kubectl-suite": "yes"}
STAMP = "2026-11-23T12:00:00Z"
_counter = itertools.count()


def wait_for(check: Callable[[], T | None], *, timeout: float = 20.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


@dataclass(kw_only=True)
class Cluster:
    server: ServerProcess
    cache_dir: Path
    files: Path

    # ------------------------------------------------------------ kubectl
    def _flags(self) -> list[str]:
        return ["--kubeconfig", str(self.server.kubeconfig), "--cache-dir", str(self.cache_dir)]

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against the server; stdout, stderr and the exit status."""
        result = subprocess.run(
            [str(KUBECTL), *self._flags(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or self.server.kubectl_env(),
            check=False,
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(KUBECTL), *self._flags(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.server.kubectl_env(),
        )

    def write(self, name: str, text: str) -> Path:
        path = self.files / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    # ------------------------------------------------------------ the API, as agents use it
    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Obj]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.server.url + path,
            method=method,
            data=data,
            headers={
                "Authorization": f"Bearer {token or self.server.admin_token}",
                "Content-Type": content_type,
            },
        )
        context = ssl.create_default_context(cafile=str(self.server.ca_file))
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def get(self, path: str) -> Obj:
        status, body = self.api("GET", path)
        assert status == 200, body
        return body

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> Obj:
        """Register a Ready node and report its status with the node's own token; labels a
        node may not set on itself (node-role.kubernetes.io/*) are the admin's, afterwards."""
        token = self.server.node_token(name)
        labels = {"kubernetes.io/hostname": name, **(labels or {})}
        admins = forbidden_node_labels(labels)
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {k: v for k, v in labels.items() if k not in admins},
            },
        }
        status, body = self.api("POST", "/api/v1/nodes", node, token=token)
        assert status in (201, 409), body
        if admins:
            status, body = self.api(
                "PATCH",
                f"/api/v1/nodes/{name}",
                {"metadata": {"labels": {k: labels[k] for k in admins}}},
                content_type="application/merge-patch+json",
            )
            assert status == 200, body
        node_status = {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "nodeagent is posting ready status",
                        "lastHeartbeatTime": STAMP,
                        "lastTransitionTime": STAMP,
                    }
                ],
                "addresses": [
                    {"type": "InternalIP", "address": "10.9.0.2"},
                    {"type": "Hostname", "address": name},
                ],
                "capacity": {"cpu": "2", "memory": "2Gi", "pods": "110"},
                "allocatable": {"cpu": "2", "memory": "2Gi", "pods": "110"},
                "nodeInfo": {
                    "kubeletVersion": "v1.37.0",
                    "osImage": "Debian GNU/Linux 13 (trixie)",
                    "kernelVersion": "6.1.0-test",
                    "containerRuntimeVersion": "podman://5.4.2",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            }
        }
        status, body = self.api(
            "PATCH",
            f"/api/v1/nodes/{name}/status",
            node_status,
            token=token,
            content_type="application/merge-patch+json",
        )
        assert status == 200, body
        return body

    def namespace(self, name: str) -> str:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        status, reply = self.api("POST", "/api/v1/namespaces", body)
        assert status in (201, 409), reply
        return name

    def pods(self, namespace: str, selector: str = "") -> list[Obj]:
        query = f"?labelSelector={selector}" if selector else ""
        items: list[Obj] = self.get(f"/api/v1/namespaces/{namespace}/pods{query}")["items"]
        return items

    def run_pods(self, namespace: str) -> list[Obj]:
        """Report every bound, not-yet-running pod of the namespace Running and Ready, as
        its node's agent would once the containers run."""
        done = []
        for pod in self.pods(namespace):
            node = pod["spec"].get("nodeName")
            if not node or pod["metadata"].get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") == "Running":
                continue
            status = {
                "phase": "Running",
                "podIP": "10.88.0.7",
                "podIPs": [{"ip": "10.88.0.7"}],
                "hostIP": "10.9.0.2",
                "startTime": STAMP,
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": STAMP}
                    for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                ],
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": "",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": STAMP}},
                    }
                    for c in pod["spec"]["containers"]
                ],
            }
            meta = pod["metadata"]
            code, body = self.api(
                "PATCH",
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {"status": status},
                token=self.server.node_token(node),
                content_type="application/merge-patch+json",
            )
            assert code == 200, body
            done.append(body)
        return done

    def confirm_deletions(self, namespace: str) -> int:
        """Remove the namespace's terminating pods, as their agents do once stopped."""
        count = 0
        for pod in self.pods(namespace):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                self.api(
                    "DELETE",
                    f"/api/v1/namespaces/{namespace}/pods/{meta['name']}",
                    {"gracePeriodSeconds": 0},
                    token=self.server.node_token(pod["spec"].get("nodeName") or "x"),
                )
                count += 1
        return count


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("kubectl")
    # No agent renews these nodes' leases: a long grace keeps the node-lifecycle controller
    # from marking them Unknown halfway through the suite (its own tests cover that).
    server = start_server_process(root / "data", "--node-monitor-grace-period", "1h")
    c = Cluster(server=server, cache_dir=root / "kube-cache", files=root / "files")
    for name in SUITE_NODES:
        c.add_node(name, SUITE_LABEL)
    yield c
    server.stop()


@pytest.fixture
def ns(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    """A fresh namespace named after the test."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return cluster.namespace(f"{base}-{next(_counter)}")


def daemonset_yaml(
    name: str, namespace: str, *, image: str = "busybox:1.36", extra_spec: str = ""
) -> str:
    """A DaemonSet in the seeds' shape, on the suite's nodes."""
    return f"""apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    k8s-app: {name}-logging
spec:
  selector:
    matchLabels:
      name: {name}
  template:
    metadata:
      labels:
        name: {name}
    spec:
      nodeSelector:
        kubectl-suite: "yes"
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      containers:
      - name: {name}
        image: {image}
        resources:
          limits:
            memory: 200Mi
          requests:
            cpu: 100m
            memory: 200Mi
        volumeMounts:
        - name: varlog
          mountPath: /var/log
      terminationGracePeriodSeconds: 30
      volumes:
      - name: varlog
        hostPath:
          path: /var/log
{extra_spec}"""


def table(stdout: str) -> list[list[str]]:
    """kubectl's columns split on runs of 2+ spaces (cells like `NODE SELECTOR` keep theirs)."""
    return [re.split(r"\s{2,}", line.strip()) for line in stdout.strip().splitlines()]
