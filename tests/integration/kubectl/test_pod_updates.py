"""Pod updates follow Kubernetes' rules (only images, activeDeadlineSeconds, added tolerations
may change in a pod's spec), through `kubectl replace`, `apply`, `edit` and `patch`; and
`kubectl wait --for=condition=Ready` on a pod its agent reports Ready."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.integration.kubectl.conftest import SUITE_NODES, Cluster

FORBIDDEN = "spec: Forbidden: pod updates may not change fields other than"


def _pod_yaml(ns: str, *, image: str = "busybox:1.36", extra: str = "") -> str:
    # serviceAccountName as admission sets it, and no token volume: `kubectl replace` sends
    # the whole spec, and a spec without what admission added would change it (as in
    # Kubernetes, where replace needs the fields admission added)
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
spec:
  nodeName: {SUITE_NODES[0]}
  serviceAccountName: default
  automountServiceAccountToken: false
  containers:
  - name: web
    image: {image}
{extra}"""


def _image(cluster: Cluster, ns: str) -> str:
    return str(cluster.get(f"/api/v1/namespaces/{ns}/pods/web")["spec"]["containers"][0]["image"])


def test_replace_and_apply_may_change_only_the_allowed_fields(cluster: Cluster, ns: str) -> None:
    """An image change is accepted; a command change is 422 Forbidden and changes nothing."""
    path = cluster.write(f"{ns}/pod.yaml", _pod_yaml(ns))
    cluster.kubectl("apply", "-f", str(path), check=True)
    same = cluster.kubectl("replace", "-f", str(path))
    assert same.returncode == 0, same.stderr
    cluster.write(f"{ns}/pod.yaml", _pod_yaml(ns, image="busybox:1.37"))
    assert cluster.kubectl("apply", "-f", str(path), check=True).stdout.strip() == (
        "pod/web configured"
    )
    assert _image(cluster, ns) == "busybox:1.37"
    cluster.write(
        f"{ns}/pod.yaml", _pod_yaml(ns, image="busybox:1.38", extra="    command: [sleep]\n")
    )
    for verb in ("apply", "replace"):
        refused = cluster.kubectl(verb, "-f", str(path))
        assert refused.returncode == 1
        assert 'The Pod "web" is invalid: ' + FORBIDDEN in refused.stderr
    assert _image(cluster, ns) == "busybox:1.37"
    labeled = cluster.kubectl("label", "pod", "web", "-n", ns, "tier=front", check=True)
    assert labeled.stdout.strip() == "pod/web labeled"
    moved = cluster.kubectl(
        "patch", "pod", "web", "-n", ns, "-p", '{"spec":{"nodeName":"' + SUITE_NODES[1] + '"}}'
    )
    assert moved.returncode == 1
    assert FORBIDDEN in moved.stderr


def _editor(tmp_path: Path, sed: str) -> str:
    script = tmp_path / f"editor-{abs(hash(sed))}.sh"
    script.write_text(f'#!/bin/sh\nsed -i "{sed}" "$1"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_edit_changes_an_image_and_refuses_a_forbidden_change(
    cluster: Cluster, ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubectl edit saves an image change; a restartPolicy change is refused and not saved."""
    path = cluster.write(f"{ns}/pod.yaml", _pod_yaml(ns))
    cluster.kubectl("apply", "-f", str(path), check=True)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "s/image: busybox:1.36/image: busybox:2.0/"))
    edited = cluster.kubectl("edit", "pod", "web", "-n", ns)
    assert edited.stdout.strip() == "pod/web edited", edited.stderr
    assert _image(cluster, ns) == "busybox:2.0"
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "s/restartPolicy: Always/restartPolicy: Never/"))
    refused = cluster.kubectl("edit", "pod", "web", "-n", ns)
    assert 'pods "web" is invalid' in refused.stderr
    pod = cluster.get(f"/api/v1/namespaces/{ns}/pods/web")
    assert pod["spec"]["restartPolicy"] == "Always"


def test_wait_for_ready(cluster: Cluster, ns: str) -> None:
    """kubectl wait returns once the pod's Ready condition is True."""
    path = cluster.write(f"{ns}/pod.yaml", _pod_yaml(ns))
    cluster.kubectl("apply", "-f", str(path), check=True)
    waiter = cluster.popen("wait", "--for=condition=Ready", "pod/web", "-n", ns, "--timeout=60s")
    cluster.run_pods(ns)
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    assert out.strip() == "pod/web condition met"


def test_pods_tolerate_not_ready_and_unreachable_for_five_minutes(
    cluster: Cluster, ns: str
) -> None:
    """DefaultTolerationSeconds: a pod gets NoExecute tolerations of the not-ready and
    unreachable taints for 300 s (kubectl describe shows them), kept by a `kubectl replace`
    of its manifest; a pod that tolerates every taint gets none."""
    path = cluster.write(f"{ns}/pod.yaml", _pod_yaml(ns))
    cluster.kubectl("apply", "-f", str(path), check=True)
    described = cluster.kubectl("describe", "pod", "web", "-n", ns, check=True).stdout
    lines = [" ".join(line.split()) for line in described.splitlines()]
    at = lines.index("Tolerations: node.kubernetes.io/not-ready:NoExecute op=Exists for 300s")
    assert lines[at + 1] == "node.kubernetes.io/unreachable:NoExecute op=Exists for 300s"
    cluster.kubectl("replace", "-f", str(path), check=True)
    spec = cluster.get(f"/api/v1/namespaces/{ns}/pods/web")["spec"]
    assert [t.get("tolerationSeconds") for t in spec["tolerations"]] == [300, 300]
    tolerant = cluster.kubectl(
        "run", "any", "-n", ns, "--image=busybox", "--dry-run=server", "-o",
        "jsonpath={.spec.tolerations}",
        '--overrides={"spec":{"tolerations":[{"operator":"Exists"}]}}',
    )  # fmt: skip
    assert tolerant.stdout == '[{"operator":"Exists"}]', tolerant.stderr
