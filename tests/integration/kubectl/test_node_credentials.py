"""A node's credential with the real kubectl: a kubeconfig holding an enrolled node's token
works as that node until `kubectl delete node` revokes it, then kubectl is Unauthorized."""

from __future__ import annotations

import secrets
import subprocess

from nodeagent.server.main import kubeconfig_text
from tests.integration.kubectl.conftest import KUBECTL, Cluster


def test_delete_node_revokes_its_kubeconfig(cluster: Cluster) -> None:
    """Enrolled with the join secret and a node password, the node registers itself and
    reads nodes with kubectl; once the admin deletes it, its next kubectl call is refused."""
    node = "kubectl-revoked-node"
    status, reply = cluster.server.enrol(node, secrets.token_urlsafe(32))
    assert status == 201, reply
    token = reply["status"]["token"]
    kubeconfig = cluster.write(
        f"{node}.kubeconfig",
        kubeconfig_text(url=cluster.server.url, token=token, ca_file=cluster.server.ca_file),
    )

    def as_node(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**cluster.server.kubectl_env(), "KUBECONFIG": str(kubeconfig)}
        return subprocess.run(
            [str(KUBECTL), "--cache-dir", str(cluster.cache_dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )

    status, body = cluster.api("POST", "/api/v1/nodes", {"metadata": {"name": node}}, token=token)
    assert status == 201, body
    whoami = as_node("auth", "whoami")
    assert f"system:node:{node}" in whoami.stdout, whoami.stderr
    assert as_node("get", "node", node, "-o", "name").stdout.strip() == f"node/{node}"
    cluster.kubectl("delete", "node", node, check=True)
    refused = as_node("get", "nodes")
    assert refused.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in refused.stderr
