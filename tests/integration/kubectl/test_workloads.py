"""kubectl on DaemonSets the server's controller runs: pods, describe, events, delete, rollout.

No containers run here: the test plays each node's agent over the API (pod status Running and
Ready, confirming a graceful delete), exactly what a real agent sends.
"""

from __future__ import annotations

import importlib.util
import time

import pytest

from nodeagent.api.bodies import Obj
from tests.integration.kubectl.conftest import SUITE_NODES, Cluster, daemonset_yaml, table, wait_for

POD_WIDE = [
    "NAME",
    "READY",
    "STATUS",
    "RESTARTS",
    "AGE",
    "IP",
    "NODE",
    "NOMINATED NODE",
    "READINESS GATES",
]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nodeagent.server.controllers.daemonset.controller") is None,
    reason="the DaemonSet controller (nodeagent.server.controllers.daemonset) has not landed",
)


def _ds(cluster: Cluster, ns: str, name: str = "fluentd") -> Obj:
    return cluster.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/{name}")


def _apply(cluster: Cluster, ns: str, image: str = "busybox:1.36", name: str = "fluentd") -> None:
    path = cluster.write(f"{ns}/{name}.yaml", daemonset_yaml(name, ns, image=image))
    cluster.kubectl("apply", "-f", str(path), check=True)


def _settle(cluster: Cluster, ns: str, name: str = "fluentd", timeout: float = 40.0) -> Obj:
    """Play the agents until the DaemonSet's rollout is complete; returns the DaemonSet."""

    def done() -> Obj | None:
        cluster.confirm_deletions(ns)
        cluster.run_pods(ns)
        ds = _ds(cluster, ns, name)
        status = ds.get("status") or {}
        want = len(SUITE_NODES)
        complete = (
            status.get("observedGeneration") == ds["metadata"]["generation"]
            and status.get("desiredNumberScheduled") == want
            and status.get("updatedNumberScheduled") == want
            and status.get("numberAvailable") == want
            and len(cluster.pods(ns, f"name={name}")) == want
        )
        return ds if complete else None

    return wait_for(done, timeout=timeout, what=f"daemonset {ns}/{name} to settle")


@pytest.fixture
def running(cluster: Cluster, ns: str) -> str:
    """A DaemonSet `fluentd` with a Running, Ready pod on each suite node."""
    _apply(cluster, ns)
    _settle(cluster, ns)
    return ns


def test_get_pods_wide_and_by_label(cluster: Cluster, running: str) -> None:
    """get pods -o wide shows one Running pod per node; -l filters on the server."""
    rows = table(cluster.kubectl("get", "pods", "-n", running, "-o", "wide", check=True).stdout)
    assert rows[0] == POD_WIDE
    assert sorted(row[6] for row in rows[1:]) == sorted(SUITE_NODES)
    for row in rows[1:]:
        assert row[0].startswith("fluentd-")
        assert row[1:4] == ["1/1", "Running", "0"]
        assert row[5] == "10.88.0.7"
        assert row[7:] == ["<none>", "<none>"]
    by_label = table(
        cluster.kubectl("get", "pods", "-n", running, "-l", "name=fluentd", check=True).stdout
    )
    assert len(by_label) == 3
    everywhere = table(
        cluster.kubectl("get", "pods", "-o", "wide", "--all-namespaces", check=True).stdout
    )
    assert everywhere[0] == ["NAMESPACE", *POD_WIDE]
    assert sum(1 for row in everywhere[1:] if row[0] == running) == 2
    none = cluster.kubectl("get", "pods", "-n", running, "-l", "name=other")
    assert none.stderr.strip() == f"No resources found in {running} namespace."


def test_pending_pods_show_their_state(cluster: Cluster, ns: str) -> None:
    """Pending 0/1 before an agent reports; then ErrImagePull, CrashLoopBackOff `3 (5m ago)`."""
    _apply(cluster, ns)
    pods = wait_for(lambda: cluster.pods(ns) if len(cluster.pods(ns)) == 2 else None, what="pods")
    rows = table(cluster.kubectl("get", "pods", "-n", ns, check=True).stdout)
    assert {tuple(row[1:3]) for row in rows[1:]} == {("0/1", "Pending")}
    pod = pods[0]
    waiting = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "fluentd",
                    "image": "busybox:1.36",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}},
                }
            ],
        }
    }
    meta = pod["metadata"]
    code, body = cluster.api(
        "PATCH",
        f"/api/v1/namespaces/{ns}/pods/{meta['name']}/status",
        waiting,
        token=cluster.server.node_token(pod["spec"]["nodeName"]),
        content_type="application/merge-patch+json",
    )
    assert code == 200, body
    row = next(
        r
        for r in table(cluster.kubectl("get", "pods", "-n", ns, check=True).stdout)
        if r[0] == meta["name"]
    )
    assert row[1:3] == ["0/1", "ErrImagePull"]

    crashing = pods[1]
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 300))
    crash_status = {
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "fluentd",
                    "image": "busybox:1.36",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": finished}},
                }
            ],
        }
    }
    name = crashing["metadata"]["name"]
    code, body = cluster.api(
        "PATCH",
        f"/api/v1/namespaces/{ns}/pods/{name}/status",
        crash_status,
        token=cluster.server.node_token(crashing["spec"]["nodeName"]),
        content_type="application/merge-patch+json",
    )
    assert code == 200, body
    rows = table(cluster.kubectl("get", "pods", "-n", ns, check=True).stdout)
    row = next(r for r in rows if r[0] == name)
    assert row[1:3] == ["0/1", "CrashLoopBackOff"]
    assert row[3].startswith("3 (5m"), row
    assert row[3].endswith(" ago)"), row


def test_describe_daemonset(cluster: Cluster, running: str) -> None:
    """describe ds: selector, node selector, counts, pod status counts, template, events."""
    out = cluster.kubectl("describe", "daemonset", "fluentd", "-n", running, check=True).stdout
    assert "Selector:       name=fluentd" in out
    assert "Node-Selector:  kubectl-suite=yes" in out
    assert "Desired Number of Nodes Scheduled: 2" in out
    assert "Current Number of Nodes Scheduled: 2" in out
    assert "Number of Nodes Scheduled with Up-to-date Pods: 2" in out
    assert "Number of Nodes Scheduled with Available Pods: 2" in out
    assert "Pods Status:  2 Running / 0 Waiting / 0 Succeeded / 0 Failed" in out
    assert "Pod Template:" in out
    assert "Image:      busybox:1.36" in out
    assert "SuccessfulCreate" in out


def test_describe_pod(cluster: Cluster, running: str) -> None:
    """describe pod: node, status, IP, owner, its ServiceAccount, and the tolerations every
    daemon pod gets."""
    name = cluster.pods(running)[0]["metadata"]["name"]
    out = cluster.kubectl("describe", "pod", name, "-n", running, check=True).stdout
    assert f"Name:             {name}" in out
    assert "Service Account:  default" in out
    assert "Status:           Running" in out
    assert "IP:               10.88.0.7" in out
    assert "Controlled By:  DaemonSet/fluentd" in out
    assert "node.kubernetes.io/unreachable:NoExecute op=Exists" in out
    assert "Image:          busybox:1.36" in out


def test_get_events(cluster: Cluster, running: str) -> None:
    """get events lists the controller's SuccessfulCreate for the DaemonSet."""
    rows = table(cluster.kubectl("get", "events", "-n", running, check=True).stdout)
    assert rows[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    created = [row for row in rows[1:] if row[2] == "SuccessfulCreate"]
    assert len(created) == 2
    assert created[0][1] == "Normal"
    assert created[0][3] == "daemonset/fluentd"
    assert created[0][4].startswith("Created pod: fluentd-")


def test_delete_pod_brings_a_new_one(cluster: Cluster, running: str) -> None:
    """delete pod: Terminating until the agent confirms, then the DaemonSet replaces it."""
    old = cluster.pods(running)[0]
    name, node = old["metadata"]["name"], old["spec"]["nodeName"]
    proc = cluster.popen("delete", "pod", name, "-n", running)

    def terminating() -> bool:
        return any(p["metadata"].get("deletionTimestamp") for p in cluster.pods(running))

    wait_for(terminating, what="the pod to be terminating")
    rows = table(cluster.kubectl("get", "pods", "-n", running, check=True).stdout)
    assert [name, "1/1", "Terminating"] in [row[:3] for row in rows]
    cluster.confirm_deletions(running)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == f'pod "{name}" deleted from {running} namespace'

    def replacement() -> Obj | None:
        pods = [p for p in cluster.pods(running) if p["spec"].get("nodeName") == node]
        return next((p for p in pods if p["metadata"]["name"] != name), None)

    wait_for(replacement, what=f"a new pod on {node}")


def test_delete_daemonset_deletes_its_pods(cluster: Cluster, running: str) -> None:
    """delete ds removes the DaemonSet, and its pods go with it (background cascade)."""
    result = cluster.kubectl("delete", "ds", "fluentd", "-n", running, check=True)
    assert result.stdout.strip() == f'daemonset.apps "fluentd" deleted from {running} namespace'
    code, _ = cluster.api("GET", f"/apis/apps/v1/namespaces/{running}/daemonsets/fluentd")
    assert code == 404

    def gone() -> bool:
        cluster.confirm_deletions(running)
        return not cluster.pods(running)

    wait_for(gone, what="the DaemonSet's pods to be deleted")


@pytest.mark.parametrize("flag", ["--cascade=orphan", "--cascade=false"])
def test_delete_daemonset_orphan_keeps_pods(cluster: Cluster, running: str, flag: str) -> None:
    """--cascade=orphan (and the seeds' old --cascade=false) leaves the pods, ownerless."""
    result = cluster.kubectl("delete", "ds", "fluentd", "-n", running, flag, check=True)
    assert result.stdout.strip() == f'daemonset.apps "fluentd" deleted from {running} namespace'

    def orphaned() -> list[Obj] | None:
        pods = cluster.pods(running)
        free = [p for p in pods if not p["metadata"].get("ownerReferences")]
        return pods if len(free) == 2 else None

    pods = wait_for(orphaned, what="the pods to lose their owner")
    assert all(not p["metadata"].get("deletionTimestamp") for p in pods)


def test_rollout_status_history_undo(cluster: Cluster, running: str) -> None:
    """status after an update, history with two revisions, undo and --to-revision."""
    status = cluster.kubectl("rollout", "status", "ds/fluentd", "-n", running, "--timeout=30s")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip().endswith('daemon set "fluentd" successfully rolled out')

    cause = "kubernetes.io/change-cause=fluentd 1.37"
    cluster.kubectl("annotate", "ds", "fluentd", "-n", running, cause, check=True)
    _apply(cluster, running, image="busybox:1.37")
    _settle(cluster, running)
    history = cluster.kubectl("rollout", "history", "ds/fluentd", "-n", running, check=True)
    rows = table(history.stdout)
    assert rows[0] == ["daemonset.apps/fluentd"]
    assert rows[1] == ["REVISION", "CHANGE-CAUSE"]
    assert rows[2:] == [["1", "<none>"], ["2", "fluentd 1.37"]]
    one = cluster.kubectl(
        "rollout", "history", "ds/fluentd", "-n", running, "--revision=1", check=True
    )
    assert "busybox:1.36" in one.stdout

    undo = cluster.kubectl("rollout", "undo", "ds/fluentd", "-n", running, check=True)
    assert undo.stdout.strip() == "daemonset.apps/fluentd rolled back"
    ds = _settle(cluster, running)
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"

    back = cluster.kubectl(
        "rollout", "undo", "ds/fluentd", "-n", running, "--to-revision=2", check=True
    )
    assert back.stdout.strip() == "daemonset.apps/fluentd rolled back"
    ds = _settle(cluster, running)
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    revisions = table(cluster.kubectl("rollout", "history", "ds/fluentd", "-n", running).stdout)
    assert [row[0] for row in revisions[2:]] == ["3", "4"], "undo reuses revisions"
    same = cluster.kubectl(
        "rollout", "undo", "ds/fluentd", "-n", running, "--to-revision=4", check=True
    )
    assert same.stdout.strip() == (
        "daemonset.apps/fluentd skipped rollback (current template already matches revision 4)"
    )


def test_rollout_restart(cluster: Cluster, running: str) -> None:
    """rollout restart stamps the template, so every pod is replaced."""
    before = {p["metadata"]["name"] for p in cluster.pods(running)}
    result = cluster.kubectl("rollout", "restart", "ds/fluentd", "-n", running, check=True)
    assert result.stdout.strip() == "daemonset.apps/fluentd restarted"
    ds = _settle(cluster, running)
    annotations = ds["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    after = {p["metadata"]["name"] for p in cluster.pods(running)}
    assert not before & after
