"""kubectl get / label / taint / cordon / describe on nodes that registered as agents do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nodeagent.api.bodies import Obj
from tests.integration.kubectl.conftest import Cluster, table

NODE_COLUMNS = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
WIDE_EXTRA = ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]


@pytest.fixture
def node(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A node of its own for a test that changes it; removed afterwards."""
    name = "edge-" + request.node.name.removeprefix("test_").replace("_", "-")[:30]
    cluster.add_node(name, {"node-role.kubernetes.io/edge": ""})
    yield name
    cluster.api("DELETE", f"/api/v1/nodes/{name}")


def _row(cluster: Cluster, name: str, *args: str) -> list[str]:
    rows = table(cluster.kubectl("get", "nodes", *args, check=True).stdout)
    return next(row for row in rows[1:] if row[0] == name)


def test_get_nodes_columns(cluster: Cluster, node: str) -> None:
    """NAME STATUS ROLES AGE VERSION; the role comes from node-role.kubernetes.io/*."""
    rows = table(cluster.kubectl("get", "nodes", check=True).stdout)
    assert rows[0] == NODE_COLUMNS
    row = _row(cluster, node)
    assert row[1:3] == ["Ready", "edge"]
    assert row[4] == "v1.37.0"
    assert _row(cluster, "suite-node-1")[2] == "<none>"


def test_get_nodes_wide_and_labels(cluster: Cluster, node: str) -> None:
    """-o wide adds addresses and versions; --show-labels adds LABELS."""
    wide = table(cluster.kubectl("get", "nodes", "-o", "wide", check=True).stdout)
    assert wide[0] == [*NODE_COLUMNS, *WIDE_EXTRA]
    row = _row(cluster, node, "-o", "wide")
    assert row[5:] == [
        "10.9.0.2",
        "<none>",
        "Debian GNU/Linux 13 (trixie)",
        "6.1.0-test",
        "podman://5.4.2",
    ]
    labels = _row(cluster, node, "--show-labels")[-1]
    assert f"kubernetes.io/hostname={node}" in labels.split(",")


def test_label_and_unlabel(cluster: Cluster, node: str) -> None:
    """label adds, refuses to overwrite without --overwrite, and `key-` removes."""
    added = cluster.kubectl("label", "node", node, "disktype=ssd", check=True)
    assert added.stdout.strip() == f"node/{node} labeled"
    assert "disktype=ssd" in _row(cluster, node, "--show-labels")[-1]
    again = cluster.kubectl("label", "node", node, "disktype=hdd")
    assert again.returncode == 1
    assert "already has a value (ssd)" in again.stderr
    removed = cluster.kubectl("label", "node", node, "disktype-", check=True)
    assert removed.stdout.strip() == f"node/{node} unlabeled"
    node_obj = cluster.get(f"/api/v1/nodes/{node}")
    assert "disktype" not in node_obj["metadata"]["labels"]


def test_taint_and_untaint(cluster: Cluster, node: str) -> None:
    """taint adds to spec.taints (strategic merge patch); `key:Effect-` removes it."""
    added = cluster.kubectl("taint", "node", node, "dedicated=logging:NoSchedule", check=True)
    assert added.stdout.strip() == f"node/{node} tainted"
    cluster.kubectl("taint", "node", node, "maintenance=true:NoExecute", check=True)
    taints = cluster.get(f"/api/v1/nodes/{node}")["spec"]["taints"]
    assert {"key": "dedicated", "value": "logging", "effect": "NoSchedule"} in taints
    assert len(taints) == 2
    removed = cluster.kubectl("taint", "node", node, "dedicated:NoSchedule-", check=True)
    assert removed.stdout.strip() == f"node/{node} untainted"
    cluster.kubectl("taint", "node", node, "maintenance-", check=True)
    assert not cluster.get(f"/api/v1/nodes/{node}")["spec"].get("taints")


def test_cordon_and_uncordon(cluster: Cluster, node: str) -> None:
    """cordon shows Ready,SchedulingDisabled; uncordon clears it; repeats change nothing."""
    assert cluster.kubectl("cordon", node, check=True).stdout.strip() == f"node/{node} cordoned"
    assert _row(cluster, node)[1] == "Ready,SchedulingDisabled"
    again = cluster.kubectl("cordon", node, check=True)
    assert again.stdout.strip() == f"node/{node} already cordoned"
    done = cluster.kubectl("uncordon", node, check=True)
    assert done.stdout.strip() == f"node/{node} uncordoned"
    assert _row(cluster, node)[1] == "Ready"


def test_describe_node(cluster: Cluster, node: str) -> None:
    """describe node: roles, labels, taints, unschedulable, conditions, capacity, pods."""
    cluster.kubectl("taint", "node", node, "dedicated=logging:NoSchedule", check=True)
    result = cluster.kubectl("describe", "node", node, check=True)
    out = result.stdout
    assert f"Name:               {node}" in out
    assert "Roles:              edge" in out
    assert "Taints:             dedicated=logging:NoSchedule" in out
    assert "Unschedulable:      false" in out
    assert "Conditions:" in out
    assert "KubeletReady" in out
    assert "InternalIP:  10.9.0.2" in out
    assert "Capacity:" in out
    assert "Kubelet Version:            v1.37.0" in out
    assert "Non-terminated Pods:" in out


def test_drain_evicts_through_the_eviction_api(cluster: Cluster, node: str, ns: str) -> None:
    """`kubectl drain` finds pods/eviction in discovery and evicts (kube-apiserver's words:
    `evicting pod NS/NAME`, `pod/NAME evicted`); an Eviction naming another pod is 400, and a
    node may not evict a pod bound to another node (NodeRestriction)."""

    def pod_on(name: str, where: str) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"nodeName": where, "containers": [{"name": "c", "image": "busybox"}]},
        }

    pod = pod_on("lone", node)
    assert cluster.api("POST", f"/api/v1/namespaces/{ns}/pods", pod)[0] == 201
    elsewhere = pod_on("elsewhere", "suite-node-1")
    assert cluster.api("POST", f"/api/v1/namespaces/{ns}/pods", elsewhere)[0] == 201
    status, _ = cluster.api(
        "POST",
        f"/api/v1/namespaces/{ns}/pods/elsewhere/eviction",
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "elsewhere"}},
        token=cluster.server.node_token(node),
    )
    assert status == 403
    wrong = {"kind": "Eviction", "metadata": {"name": "lone"}, "deleteOptions": {"dryRun": 1}}
    assert cluster.api("POST", f"/api/v1/namespaces/{ns}/pods/lone/eviction", wrong)[0] == 400
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}
    status, body = cluster.api("POST", f"/api/v1/namespaces/{ns}/pods/lone/eviction", eviction)
    assert (status, body["message"]) == (
        400,
        "name in URL does not match name in Eviction object",
    )
    drained = cluster.kubectl(
        "drain", node, "--force", "--grace-period=0", "--timeout=20s", timeout=40
    )
    assert drained.returncode == 0, drained.stderr
    assert drained.stdout.splitlines() == [
        f"node/{node} cordoned",
        f"evicting pod {ns}/lone",
        "pod/lone evicted",
        f"node/{node} drained",
    ]
    assert cluster.api("GET", f"/api/v1/namespaces/{ns}/pods/lone")[0] == 404
