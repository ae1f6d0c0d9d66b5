"""kubectl create / apply / get / explain against the real server: the words and columns a
Kubernetes user expects, and errors as the API server words them."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from typing import IO

import yaml

from tests.integration.kubectl.conftest import Cluster, daemonset_yaml, table

DS_COLUMNS = [
    "NAME",
    "DESIRED",
    "CURRENT",
    "READY",
    "UP-TO-DATE",
    "AVAILABLE",
    "NODE SELECTOR",
    "AGE",
]


def test_create_then_create_again(cluster: Cluster, ns: str) -> None:
    """create -f makes the DaemonSet; a second create is AlreadyExists, naming the file."""
    path = cluster.write(f"{ns}/ds.yaml", daemonset_yaml("fluentd", ns))
    first = cluster.kubectl("create", "-f", str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "daemonset.apps/fluentd created"
    again = cluster.kubectl("create", "-f", str(path))
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f'Error from server (AlreadyExists): error when creating "{path}": '
        'daemonsets.apps "fluentd" already exists'
    )


def test_apply_create_unchanged_configured(cluster: Cluster, ns: str) -> None:
    """apply creates, then finds nothing to change, then patches a new image (SMP)."""
    path = cluster.write(f"{ns}/ds.yaml", daemonset_yaml("fluentd", ns))
    assert cluster.kubectl("apply", "-f", str(path), check=True).stdout.strip() == (
        "daemonset.apps/fluentd created"
    )
    assert cluster.kubectl("apply", "-f", str(path), check=True).stdout.strip() == (
        "daemonset.apps/fluentd unchanged"
    )
    path.write_text(daemonset_yaml("fluentd", ns, image="busybox:1.37"))
    changed = cluster.kubectl("apply", "-f", str(path), check=True)
    assert changed.stdout.strip() == "daemonset.apps/fluentd configured"
    ds = cluster.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/fluentd")
    (container,) = ds["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "busybox:1.37"
    assert container["resources"]["limits"] == {"memory": "200Mi"}
    assert ds["metadata"]["generation"] == 2
    applied = json.loads(
        ds["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert applied["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"


def test_apply_removes_a_volume_and_switches_strategy(cluster: Cluster, ns: str) -> None:
    """Fields dropped from the manifest go away: the delete directive and null in SMP."""
    path = cluster.write(
        f"{ns}/ds.yaml",
        daemonset_yaml(
            "fluentd",
            ns,
            extra_spec="  updateStrategy:\n    type: RollingUpdate\n"
            "    rollingUpdate:\n      maxUnavailable: 2\n",
        ),
    )
    cluster.kubectl("apply", "-f", str(path), check=True)
    text = daemonset_yaml("fluentd", ns, extra_spec="  updateStrategy:\n    type: OnDelete\n")
    text = text.replace(
        "        volumeMounts:\n        - name: varlog\n          mountPath: /var/log\n", ""
    ).replace(
        "      volumes:\n      - name: varlog\n        hostPath:\n          path: /var/log\n", ""
    )
    path.write_text(text)
    result = cluster.kubectl("apply", "-f", str(path), check=True)
    assert result.stdout.strip() == "daemonset.apps/fluentd configured"
    spec = cluster.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/fluentd")["spec"]
    assert spec["updateStrategy"] == {"type": "OnDelete"}
    assert not spec["template"]["spec"].get("volumes")
    assert not spec["template"]["spec"]["containers"][0].get("volumeMounts")


def test_apply_server_side(cluster: Cluster, ns: str) -> None:
    """--server-side creates when absent and merges a change, both `serverside-applied`."""
    path = cluster.write(f"{ns}/ds.yaml", daemonset_yaml("vector", ns))
    first = cluster.kubectl("apply", "--server-side", "-f", str(path), check=True)
    assert first.stdout.strip() == "daemonset.apps/vector serverside-applied"
    path.write_text(daemonset_yaml("vector", ns, image="busybox:1.37"))
    second = cluster.kubectl("apply", "--server-side", "-f", str(path), check=True)
    assert second.stdout.strip() == "daemonset.apps/vector serverside-applied"
    ds = cluster.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/vector")
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"


def test_apply_a_directory(cluster: Cluster, ns: str) -> None:
    """apply -f DIR applies every manifest in it."""
    cluster.write(f"{ns}/dir/a.yaml", daemonset_yaml("alpha", ns))
    cluster.write(f"{ns}/dir/b.yaml", daemonset_yaml("beta", ns))
    result = cluster.kubectl("apply", "-f", str(cluster.files / ns / "dir"), check=True)
    assert result.stdout.splitlines() == [
        "daemonset.apps/alpha created",
        "daemonset.apps/beta created",
    ]


def test_get_daemonsets_columns_wide_and_all_namespaces(cluster: Cluster, ns: str) -> None:
    """get ds shows kubectl's columns; -o wide adds CONTAINERS IMAGES SELECTOR; -A NAMESPACE."""
    cluster.kubectl(
        "apply",
        "-f",
        str(cluster.write(f"{ns}/ds.yaml", daemonset_yaml("fluentd", ns))),
        check=True,
    )
    rows = table(cluster.kubectl("get", "ds", "-n", ns, check=True).stdout)
    assert rows[0] == DS_COLUMNS
    assert rows[1][0] == "fluentd"
    assert rows[1][6] == "kubectl-suite=yes"
    wide = table(cluster.kubectl("get", "daemonset", "-n", ns, "-o", "wide", check=True).stdout)
    assert wide[0] == [*DS_COLUMNS, "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1][-3:] == ["fluentd", "busybox:1.36", "name=fluentd"]
    everywhere = table(cluster.kubectl("get", "daemonsets", "--all-namespaces", check=True).stdout)
    assert everywhere[0] == ["NAMESPACE", *DS_COLUMNS]
    assert [ns, "fluentd"] in [row[:2] for row in everywhere[1:]]


def test_get_nothing(cluster: Cluster, ns: str) -> None:
    """An empty namespace prints kubectl's `No resources found` on stderr, exit 0."""
    result = cluster.kubectl("get", "ds", "-n", ns)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.strip() == f"No resources found in {ns} namespace."


def test_get_yaml_and_json(cluster: Cluster, ns: str) -> None:
    """-o yaml / -o json give the whole objects, with the metadata the server sets."""
    cluster.kubectl(
        "create",
        "-f",
        str(cluster.write(f"{ns}/ds.yaml", daemonset_yaml("fluentd", ns))),
        check=True,
    )
    listed = json.loads(cluster.kubectl("get", "ds", "-n", ns, "-o", "json", check=True).stdout)
    assert listed["kind"] == "List"
    (item,) = listed["items"]
    assert item["kind"] == "DaemonSet"
    assert item["apiVersion"] == "apps/v1"
    meta = item["metadata"]
    assert meta["namespace"] == ns
    assert meta["uid"]
    assert meta["resourceVersion"]
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert item["spec"]["updateStrategy"]["type"] == "RollingUpdate", "defaulted"
    one = yaml.safe_load(
        cluster.kubectl("get", "ds", "fluentd", "-n", ns, "-o", "yaml", check=True).stdout
    )
    assert one["kind"] == "DaemonSet"
    assert one["metadata"]["uid"] == meta["uid"]
    assert one["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"


class LineReader:
    """Lines of a process's stdout, read by a thread (no blocking read in the test)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def read(self, want: int, timeout: float = 30.0) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < want:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                got.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                break
        return got


def test_get_watch(cluster: Cluster, ns: str) -> None:
    """get ds -w prints the table, then a row for each change as it happens."""
    path = cluster.write(f"{ns}/ds.yaml", daemonset_yaml("fluentd", ns))
    cluster.kubectl("create", "-f", str(path), check=True)
    proc = cluster.popen("get", "ds", "-n", ns, "-w")
    reader = LineReader(proc)
    try:
        first = reader.read(2)
        assert table("\n".join(first))[0] == DS_COLUMNS, first
        assert first[1].startswith("fluentd ")
        cluster.kubectl("label", "ds", "fluentd", "-n", ns, "tier=logging", check=True)
        more = reader.read(1)
        assert more, "a row for the change"
        assert more[0].startswith("fluentd "), more
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_errors_name_the_object_and_field(cluster: Cluster, ns: str) -> None:
    """NotFound, Invalid with its field path, and a strict unknown field, as kubectl prints them."""
    missing = cluster.kubectl("get", "ds", "nosuch", "-n", ns)
    assert missing.returncode == 1
    assert (
        missing.stderr.strip() == 'Error from server (NotFound): daemonsets.apps "nosuch" not found'
    )
    described = cluster.kubectl("describe", "daemonset", "kube-proxy")
    assert described.returncode == 1
    assert described.stderr.strip() == (
        'Error from server (NotFound): daemonsets.apps "kube-proxy" not found'
    )

    bad = daemonset_yaml("bad", ns).replace("        image: busybox:1.36\n", "")
    invalid = cluster.kubectl("create", "-f", str(cluster.write(f"{ns}/bad.yaml", bad)))
    assert invalid.returncode == 1
    assert 'The DaemonSet "bad" is invalid' in invalid.stderr
    assert "spec.template.spec.containers[0].image: Required value" in invalid.stderr

    typo = daemonset_yaml("typo", ns).replace(
        "spec:\n  selector:", "spec:\n  replicas: 3\n  selector:", 1
    )
    path = cluster.write(f"{ns}/typo.yaml", typo)
    strict = cluster.kubectl("create", "-f", str(path))
    assert strict.returncode == 1
    assert strict.stderr.strip() == (
        f'Error from server (BadRequest): error when creating "{path}": '
        'strict decoding error: unknown field "spec.replicas"'
    )
    warned = cluster.kubectl("create", "--validate=warn", "-f", str(path))
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.replicas"' in warned.stderr
    assert warned.stdout.strip() == "daemonset.apps/typo created"


def test_explain_daemonset_spec(cluster: Cluster) -> None:
    """explain reads the server's OpenAPI v3: kind, field type, descriptions, required."""
    result = cluster.kubectl("explain", "daemonset.spec", check=True)
    out = result.stdout
    assert "KIND:       DaemonSet" in out
    assert "VERSION:    v1" in out
    assert "FIELD: spec <DaemonSetSpec>" in out
    assert "selector\t<LabelSelector> -required-" in out
    assert "template\t<PodTemplateSpec> -required-" in out
    assert "updateStrategy\t<DaemonSetUpdateStrategy>" in out
    deeper = cluster.kubectl("explain", "ds.spec.updateStrategy.rollingUpdate", check=True)
    assert "maxUnavailable\t<IntOrString>" in deeper.stdout


def test_version_and_api_resources(cluster: Cluster) -> None:
    """The server reports the Kubernetes version it follows; discovery lists the kinds."""
    version = cluster.kubectl("version", check=True)
    assert "Server Version: v1.37.0" in version.stdout
    assert "WARNING" not in version.stderr
    rows = table(cluster.kubectl("api-resources", check=True).stdout)
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["daemonsets"][1:] == ["ds", "apps/v1", "true", "DaemonSet"]
    assert by_name["nodes"][1:] == ["no", "v1", "false", "Node"]
    legacy = json.loads(cluster.kubectl("get", "--raw", "/apis", check=True).stdout)
    assert legacy["kind"] == "APIGroupList"
    group = json.loads(cluster.kubectl("get", "--raw", "/apis/apps", check=True).stdout)
    assert group["preferredVersion"]["groupVersion"] == "apps/v1"
    versions = cluster.kubectl("api-versions", check=True).stdout.split()
    assert versions == [
        "apps/v1",
        "authentication.k8s.io/v1",
        "authorization.k8s.io/v1",
        "coordination.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "v1",
    ]


def test_reviews_are_discovered_and_explained(cluster: Cluster) -> None:
    """The access and identity reviews are in discovery as kube-apiserver lists them, `kubectl
    explain` describes them, and `kubectl create -f` of one answers (validation off: kubectl
    validates kinds without a PATCH from /openapi/v2, which this server does not serve)."""
    rows = table(cluster.kubectl("api-resources", "--verbs=create", check=True).stdout)
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["subjectaccessreviews"][1:] == [
        "authorization.k8s.io/v1",
        "false",
        "SubjectAccessReview",
    ]
    assert by_name["selfsubjectreviews"][1:] == [
        "authentication.k8s.io/v1",
        "false",
        "SelfSubjectReview",
    ]
    explained = cluster.kubectl("explain", "subjectaccessreview.spec", check=True).stdout
    assert "resourceAttributes\t<ResourceAttributes>" in explained
    review = (
        "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  user: jane\n"
        "  resourceAttributes: {verb: get, resource: pods, namespace: default}\n"
    )
    created = cluster.kubectl(
        "create", "-f", "-", "--validate=false", "-o", "jsonpath={.status}", stdin=review
    )
    assert (created.returncode, created.stdout) == (0, '{"allowed":false}'), created.stderr


def test_patch_with_each_type(cluster: Cluster, ns: str) -> None:
    """kubectl patch: strategic (default), merge and json; a failed json `test` is refused."""
    path = cluster.write(f"{ns}/ds.yaml", daemonset_yaml("fluentd", ns))
    cluster.kubectl("create", "-f", str(path), check=True)
    base = ("patch", "ds", "fluentd", "-n", ns)
    with_env = {"name": "fluentd", "env": [{"name": "A", "value": "1"}]}
    env = json.dumps({"spec": {"template": {"spec": {"containers": [with_env]}}}})
    assert cluster.kubectl(*base, "-p", env, check=True).stdout.strip() == (
        "daemonset.apps/fluentd patched"
    )
    cluster.kubectl(
        *base, "--type=merge", "-p", '{"metadata":{"labels":{"tier":"logs"}}}', check=True
    )
    image = '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"busybox:2"}]'
    cluster.kubectl(*base, "--type=json", "-p", image, check=True)
    ds = cluster.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/fluentd")
    (container,) = ds["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert container["image"] == "busybox:2"
    assert container["volumeMounts"] == [{"name": "varlog", "mountPath": "/var/log"}]
    assert ds["metadata"]["labels"] == {"k8s-app": "fluentd-logging", "tier": "logs"}
    failed = cluster.kubectl(
        *base, "--type=json", "-p", '[{"op":"test","path":"/metadata/name","value":"other"}]'
    )
    assert failed.returncode == 1
    assert "test operation failed" in failed.stderr
