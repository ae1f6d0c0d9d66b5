"""`kubectl get` options that read more than the table's cells: --sort-by, -o name, -L,
`get all`, and `delete -f`."""

from __future__ import annotations

from tests.integration.kubectl.conftest import Cluster, daemonset_yaml, table


def _pods(cluster: Cluster, ns: str) -> None:
    for name, image in (("pb", "busybox:3"), ("pa", "busybox:9"), ("pc", "busybox:1")):
        cluster.kubectl(
            "run",
            name,
            "-n",
            ns,
            f"--image={image}",
            f"--labels=app={name},tier=t-{name}",
            check=True,
        )


def test_sort_by_a_field_outside_the_table(cluster: Cluster, ns: str) -> None:
    """--sort-by on a spec field asks for includeObject=Object and sorts the rows by it."""
    _pods(cluster, ns)
    by_image = cluster.kubectl(
        "get", "pods", "-n", ns, "--sort-by=.spec.containers[0].image", check=True
    )
    assert [row[0] for row in table(by_image.stdout)[1:]] == ["pc", "pb", "pa"]
    by_name = cluster.kubectl("get", "pods", "-n", ns, "--sort-by=.metadata.name", check=True)
    assert [row[0] for row in table(by_name.stdout)[1:]] == ["pa", "pb", "pc"]
    wide = cluster.kubectl(
        "get", "pods", "-n", ns, "-o", "wide", "--sort-by=.spec.containers[0].image", check=True
    )
    assert [row[0] for row in table(wide.stdout)[1:]] == ["pc", "pb", "pa"]


def test_name_output_label_columns_and_get_all(cluster: Cluster, ns: str) -> None:
    """-o name prints kind/name; -L adds one column per label key; `get all` lists pods."""
    _pods(cluster, ns)
    names = cluster.kubectl("get", "pods", "-n", ns, "-o", "name", check=True).stdout.split()
    assert sorted(names) == ["pod/pa", "pod/pb", "pod/pc"]
    rows = table(cluster.kubectl("get", "pods", "-n", ns, "-L", "app,tier", check=True).stdout)
    assert rows[0][-2:] == ["APP", "TIER"]
    assert {tuple(r[-2:]) for r in rows[1:]} == {("pa", "t-pa"), ("pb", "t-pb"), ("pc", "t-pc")}
    everything = cluster.kubectl("get", "all", "-n", ns, check=True).stdout
    assert {"pod/pa", "pod/pb", "pod/pc"} <= {r[0] for r in table(everything)}


def test_delete_from_file(cluster: Cluster, ns: str) -> None:
    """delete -f removes what the file names."""
    path = cluster.write(
        f"{ns}/pod.yaml",
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: gone\n  namespace: {ns}\n"
        "spec:\n  containers:\n  - name: c\n    image: busybox\n",
    )
    cluster.kubectl("create", "-f", str(path), check=True)
    deleted = cluster.kubectl("delete", "-f", str(path), check=True)
    assert deleted.stdout.strip() == f'pod "gone" deleted from {ns} namespace'
    status, _ = cluster.api("GET", f"/api/v1/namespaces/{ns}/pods/gone")
    assert status == 404


def test_lists_come_in_pages_of_limit_with_continue(cluster: Cluster, ns: str) -> None:
    """`limit` gives at most that many items and a continue token (with remainingItemCount on
    an unfiltered list); following the tokens yields every item once, in name order, under the
    first page's resourceVersion; kubectl get --chunk-size pages through them."""
    names = [f"p{i}" for i in range(5)]
    for name in reversed(names):
        cluster.kubectl("run", name, "-n", ns, "--image=busybox", "--labels=app=paged", check=True)
    path = f"/api/v1/namespaces/{ns}/pods"
    first = cluster.get(f"{path}?limit=2")
    assert [p["metadata"]["name"] for p in first["items"]] == ["p0", "p1"]
    assert first["metadata"]["remainingItemCount"] == 3
    seen, page = [], first
    while True:
        seen += [p["metadata"]["name"] for p in page["items"]]
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        token = page["metadata"].get("continue")
        if not token:
            break
        page = cluster.get(f"{path}?limit=2&continue={token}")
    assert seen == names
    filtered = cluster.get(f"{path}?limit=2&labelSelector=app%3Dpaged")
    assert filtered["metadata"]["continue"]
    assert "remainingItemCount" not in filtered["metadata"]
    rows = table(cluster.kubectl("get", "pods", "-n", ns, "--chunk-size=2", check=True).stdout)
    assert [r[0] for r in rows] == ["NAME", *names]
    status, body = cluster.api("GET", f"{path}?limit=2&continue=not-a-token")
    assert status == 400
    assert body["message"].startswith("invalid continue token"), body


def test_apply_prune_with_an_allowlist_or_an_applyset(cluster: Cluster, ns: str) -> None:
    """`kubectl apply --prune` deletes what left the directory when told the kinds
    (`--prune-allowlist`) or through an ApplySet; without either, kubectl's default list names
    kinds this server does not serve (Deployment, Endpoints, ...), which kubectl refuses
    (docs/kubectl.md, "Other departures")."""
    directory = cluster.files / ns / "prune"
    for name in ("keep", "drop"):
        cluster.write(f"{ns}/prune/{name}.yaml", daemonset_yaml(name, ns))
    cluster.kubectl("apply", "-n", ns, "-f", str(directory), check=True)
    (directory / "drop.yaml").unlink()
    base = ("apply", "-n", ns, "-f", str(directory), "--prune")
    refused = cluster.kubectl(*base, "-l", "k8s-app in (keep-logging,drop-logging)")
    assert 'no matches for kind "Endpoints" in version "v1"' in refused.stderr
    allowed = cluster.kubectl(
        *base,
        "-l",
        "k8s-app in (keep-logging,drop-logging)",
        "--prune-allowlist=apps/v1/DaemonSet",
        check=True,
    )
    assert "daemonset.apps/drop pruned" in allowed.stdout
    env = {**cluster.server.kubectl_env(), "KUBECTL_APPLYSET": "true"}
    cluster.write(f"{ns}/prune/drop.yaml", daemonset_yaml("drop", ns))
    cluster.kubectl(*base, "--applyset=fleet", env=env, check=True)
    (directory / "drop.yaml").unlink()
    pruned = cluster.kubectl(*base, "--applyset=fleet", env=env, check=True)
    assert "daemonset.apps/drop pruned" in pruned.stdout
    status, _ = cluster.api("GET", f"/apis/apps/v1/namespaces/{ns}/daemonsets/drop")
    assert status == 404
