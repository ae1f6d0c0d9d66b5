"""`kubectl cluster-info` and the read-only, always empty Services it looks for; `kubectl get
componentstatuses`."""

from __future__ import annotations

from tests.integration.kubectl.conftest import Cluster


def test_cluster_info_names_the_control_plane(cluster: Cluster) -> None:
    """cluster-info lists kube-system's cluster services (none here) and names the server."""
    shown = cluster.kubectl("cluster-info", check=True).stdout
    assert f"Kubernetes control plane is running at {cluster.server.url}" in shown


def test_services_are_listed_empty_and_refuse_writes(cluster: Cluster, ns: str) -> None:
    """This server holds no Services: lists are empty, a create is 405 with kube-apiserver's
    words, and `get all` still lists the namespace's pods."""
    listed = cluster.kubectl("get", "services", "-n", ns)
    assert listed.returncode == 0, listed.stderr
    assert f"No resources found in {ns} namespace." in listed.stderr
    created = cluster.kubectl("create", "service", "clusterip", "web", "--tcp=80", "-n", ns)
    assert created.returncode != 0
    assert "the server does not allow this method on the requested resource" in created.stderr
    status, body = cluster.api(
        "POST", f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "web"}}
    )
    assert (status, body["reason"]) == (405, "MethodNotAllowed")
    cluster.kubectl("run", "solo", "-n", ns, "--image=busybox", check=True)
    everything = cluster.kubectl("get", "all", "-n", ns, check=True).stdout
    assert "pod/solo" in everything


def test_get_componentstatuses_shows_the_store(cluster: Cluster) -> None:
    """`kubectl get cs` lists the server's readiness checks with kubectl's columns and the
    deprecation warning kube-apiserver sends; one is read by name; writes are refused."""
    shown = cluster.kubectl("get", "cs")
    assert shown.returncode == 0, shown.stderr
    assert "Warning: v1 ComponentStatus is deprecated in v1.19+" in shown.stderr
    assert [line.split() for line in shown.stdout.splitlines()] == [
        ["NAME", "STATUS", "MESSAGE", "ERROR"],
        ["store", "Healthy", "ok"],
    ]
    one = cluster.kubectl("get", "componentstatus", "store", "-o", "jsonpath={.conditions}")
    assert one.stdout == '[{"message":"ok","status":"True","type":"Healthy"}]', one.stderr
    status, _ = cluster.api("POST", "/api/v1/componentstatuses", {"metadata": {"name": "x"}})
    assert status == 405
