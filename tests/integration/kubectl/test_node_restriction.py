"""The real kubectl with a kubeconfig holding a node's credentials: what a compromised host's
operator would try, answered with kube-apiserver's Forbidden messages as kubectl prints them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.kubectl.conftest import KUBECTL, Cluster

NODE_A, NODE_B = "nr-node-a", "nr-node-b"
USER = f'User "system:node:{NODE_A}"'


@pytest.fixture(scope="module")
def as_node_a(cluster: Cluster) -> Iterator[Path]:
    """node-a and node-b registered (node-a tainted by the admin), and a kubeconfig that is the
    admin's with node-a's credentials in place of the admin's."""
    cluster.add_node(NODE_A)
    cluster.add_node(NODE_B)
    taint = {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}
    status, body = cluster.api(
        "PATCH", f"/api/v1/nodes/{NODE_A}", taint, content_type="application/merge-patch+json"
    )
    assert status == 200, body
    config = yaml.safe_load(cluster.server.kubeconfig.read_text())
    config["users"] = [{"name": NODE_A, "user": {"token": cluster.server.node_token(NODE_A)}}]
    config["contexts"][0]["context"]["user"] = NODE_A
    path = cluster.write(f"{NODE_A}.kubeconfig", yaml.safe_dump(config))
    path.chmod(0o600)
    yield path
    for name in (NODE_A, NODE_B):
        cluster.api("DELETE", f"/api/v1/nodes/{name}")


def kubectl(cluster: Cluster, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real kubectl with only the node's kubeconfig (and its own discovery cache)."""
    cache = cluster.cache_dir / NODE_A
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**cluster.server.kubectl_env(), "KUBECONFIG": str(kubeconfig)},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("label", "node", NODE_B, "foo=bar"),
            f'nodes "{NODE_B}" is forbidden: {USER} cannot get resource "nodes" in API group "" '
            f"at the cluster scope: node '{NODE_A}' cannot read '{NODE_B}', only its own Node "
            "object",
        ),
        (
            ("label", "node", NODE_A, "node-role.kubernetes.io/worker="),
            f'nodes "{NODE_A}" is forbidden: is not allowed to modify labels: '
            "node-role.kubernetes.io/worker",
        ),
        (
            ("label", "node", NODE_A, "node-restriction.kubernetes.io/pci=true"),
            f'nodes "{NODE_A}" is forbidden: is not allowed to modify labels: '
            "node-restriction.kubernetes.io/pci",
        ),
        (
            ("taint", "node", NODE_A, "dedicated-"),
            f'nodes "{NODE_A}" is forbidden: node "{NODE_A}" is not allowed to modify taints',
        ),
        (
            ("delete", "node", NODE_B),
            f'nodes "{NODE_B}" is forbidden: {USER} cannot delete resource "nodes" in API group '
            '"" at the cluster scope',
        ),
        (
            ("get", "pods", "-A"),
            f'pods is forbidden: {USER} cannot list resource "pods" in API group "" at the '
            "cluster scope: can only list/watch pods with spec.nodeName field selector",
        ),
    ],
    ids=["label another node", "node-role", "node-restriction", "untaint", "delete", "pods"],
)
def test_refused_as_kubectl_prints_it(
    cluster: Cluster, as_node_a: Path, args: tuple[str, ...], error: str
) -> None:
    """kubectl exits 1 and prints the server's Forbidden message."""
    result = kubectl(cluster, as_node_a, *args)
    assert result.returncode == 1, result.stdout
    assert result.stderr.strip() == f"Error from server (Forbidden): {error}"


def test_what_a_node_may_do_on_itself(cluster: Cluster, as_node_a: Path) -> None:
    """Its own labels outside the reserved namespaces, and reading its own Node, pass."""
    labelled = kubectl(cluster, as_node_a, "label", "node", NODE_A, "team=edge")
    assert labelled.stdout.strip() == f"node/{NODE_A} labeled", labelled.stderr
    own = kubectl(cluster, as_node_a, "get", "node", NODE_A, "-o", "name")
    assert own.stdout.strip() == f"node/{NODE_A}", own.stderr
    can = kubectl(cluster, as_node_a, "auth", "can-i", "list", "nodes")
    reason = f"node '{NODE_A}' cannot read all nodes, only its own Node object"
    assert (can.returncode, can.stdout.strip()) == (1, f"no - {reason}"), can.stderr
