"""`kubectl create namespace` (a protobuf body) and `--dry-run=server` on every write verb."""

from __future__ import annotations

from tests.integration.kubectl.conftest import Cluster, daemonset_yaml


def _exists(cluster: Cluster, path: str) -> bool:
    status, _ = cluster.api("GET", path)
    return status == 200


def test_create_namespace_sends_protobuf(cluster: Cluster) -> None:
    """kubectl's typed `create namespace` body (application/vnd.kubernetes.protobuf) is read."""
    done = cluster.kubectl("create", "namespace", "made-by-kubectl")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "namespace/made-by-kubectl created"
    assert cluster.get("/api/v1/namespaces/made-by-kubectl")["status"]["phase"] == "Active"
    again = cluster.kubectl("create", "ns", "made-by-kubectl")
    assert again.returncode == 1
    assert 'namespaces "made-by-kubectl" already exists' in again.stderr


def test_a_namespace_is_labelled_with_its_name(cluster: Cluster) -> None:
    """Every namespace carries `kubernetes.io/metadata.name=NAME` (kube-apiserver's default,
    put back when removed), so `-l kubernetes.io/metadata.name=NAME` selects it."""
    cluster.kubectl("create", "ns", "labelled-by-name", check=True)
    cluster.kubectl("label", "ns", "labelled-by-name", "kubernetes.io/metadata.name-", check=True)
    selected = cluster.kubectl(
        "get", "ns", "-l", "kubernetes.io/metadata.name in (labelled-by-name,default)", "-o", "name"
    )
    assert selected.stdout.split() == ["namespace/default", "namespace/labelled-by-name"], (
        selected.stderr
    )


def test_dry_run_create_stores_nothing(cluster: Cluster, ns: str) -> None:
    """create ns / run / apply with --dry-run=server answer as if done, and store nothing."""
    created = cluster.kubectl("create", "ns", "only-a-dry-run", "--dry-run=server", check=True)
    assert created.stdout.strip() == "namespace/only-a-dry-run created (server dry run)"
    assert not _exists(cluster, "/api/v1/namespaces/only-a-dry-run")

    pod = cluster.kubectl(
        "run", "dry", "-n", ns, "--image=busybox", "--dry-run=server", "-o", "yaml", check=True
    )
    assert "name: dry" in pod.stdout
    assert "imagePullPolicy: Always" in pod.stdout  # the server's defaults were applied
    assert not _exists(cluster, f"/api/v1/namespaces/{ns}/pods/dry")

    path = cluster.write(f"{ns}/ds.yaml", daemonset_yaml("dryds", ns))
    applied = cluster.kubectl("apply", "-f", str(path), "--dry-run=server", check=True)
    assert applied.stdout.strip() == "daemonset.apps/dryds created (server dry run)"
    assert not _exists(cluster, f"/apis/apps/v1/namespaces/{ns}/daemonsets/dryds")


def test_dry_run_still_validates(cluster: Cluster, ns: str) -> None:
    """A dry run refuses what the real request would refuse."""
    bad = cluster.kubectl("run", "Bad_Name", "-n", ns, "--image=busybox", "--dry-run=server")
    assert bad.returncode == 1
    assert "Invalid value" in bad.stderr


def test_dry_run_patch_and_delete_change_nothing(cluster: Cluster, ns: str) -> None:
    """label, patch and delete with --dry-run=server leave the stored object as it was."""
    cluster.kubectl("run", "keep", "-n", ns, "--image=busybox", check=True)
    before = cluster.get(f"/api/v1/namespaces/{ns}/pods/keep")
    labeled = cluster.kubectl("label", "pod", "keep", "-n", ns, "x=y", "--dry-run=server")
    assert labeled.stdout.strip() == "pod/keep labeled (server dry run)", labeled.stderr
    patched = cluster.kubectl(
        "patch",
        "pod",
        "keep",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"metadata":{"annotations":{"a":"b"}}}',
        "--dry-run=server",
        "-o",
        "yaml",
    )
    assert "a: b" in patched.stdout, patched.stderr
    deleted = cluster.kubectl("delete", "pod", "keep", "-n", ns, "--dry-run=server")
    assert deleted.stdout.strip() == f'pod "keep" deleted from {ns} namespace (server dry run)'
    ns_deleted = cluster.kubectl("delete", "ns", ns, "--dry-run=server", check=True)
    assert "(server dry run)" in ns_deleted.stdout
    after = cluster.get(f"/api/v1/namespaces/{ns}/pods/keep")
    assert after == before
    assert cluster.get(f"/api/v1/namespaces/{ns}")["status"]["phase"] == "Active"


def test_diff_shows_the_change_without_making_it(cluster: Cluster, ns: str) -> None:
    """kubectl diff (a server dry-run patch) shows the new image; the live object keeps its."""
    path = cluster.write(f"{ns}/ds.yaml", daemonset_yaml("diffds", ns))
    cluster.kubectl("apply", "-f", str(path), check=True)
    unchanged = cluster.kubectl("diff", "-f", str(path))
    assert (unchanged.returncode, unchanged.stdout) == (0, ""), unchanged.stderr
    cluster.write(f"{ns}/ds.yaml", daemonset_yaml("diffds", ns, image="busybox:9.9"))
    changed = cluster.kubectl("diff", "-f", str(path))
    assert changed.returncode == 1, changed.stderr
    assert "+      - image: busybox:9.9" in changed.stdout
    live = cluster.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/diffds")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
