"""`kubectl auth can-i` and `kubectl auth whoami` (self reviews, sent as protobuf)."""

from __future__ import annotations

from tests.integration.kubectl.conftest import SUITE_NODES, Cluster


def test_can_i_as_admin_and_as_a_node(cluster: Cluster) -> None:
    """The admin may do anything; a node token may read its own Node (only: the node
    authorizer with selectors) but not delete it."""
    assert cluster.kubectl("auth", "can-i", "delete", "daemonsets", "-A").stdout.strip() == "yes"
    node_token = cluster.server.node_token(SUITE_NODES[0])
    as_node = ("--token", node_token, "auth", "can-i")
    allowed = cluster.kubectl(*as_node, "get", f"nodes/{SUITE_NODES[0]}")
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "yes"), allowed.stderr
    others = cluster.kubectl(*as_node, "list", "nodes")
    reason = f"node '{SUITE_NODES[0]}' cannot read all nodes, only its own Node object"
    assert (others.returncode, others.stdout.strip()) == (1, f"no - {reason}"), others.stderr
    denied = cluster.kubectl(*as_node, "delete", "nodes")
    assert (denied.returncode, denied.stdout.strip()) == (1, "no"), denied.stderr
    own_lease = cluster.kubectl(
        *as_node, "update", f"leases/{SUITE_NODES[0]}", "-n", "kube-node-lease"
    )
    assert own_lease.stdout.strip() == "yes", own_lease.stderr


def test_whoami(cluster: Cluster) -> None:
    """whoami names the caller and its groups."""
    admin = cluster.kubectl("auth", "whoami", check=True).stdout
    assert "admin" in admin
    assert "system:masters" in admin
    node = SUITE_NODES[1]
    as_node = cluster.kubectl("--token", cluster.server.node_token(node), "auth", "whoami")
    assert f"system:node:{node}" in as_node.stdout, as_node.stderr
