"""Seeds 001 and 004 on three hosts: one pod per node, the control plane's taint, a deleted pod."""

from __future__ import annotations

import ipaddress
import urllib.request

import pytest

from tests.e2e.harness import Fleet
from tests.e2e.reading import manifest, pod_ready, table, wait_for

pytestmark = pytest.mark.e2e


def test_seed_001_runs_one_pod_per_worker(fleet: Fleet) -> None:
    """`kubectl get daemonset` counts equal the workers; each worker runs its pod; the tainted
    control plane runs none (seed 001's tutorial, step by step)."""
    workers = sorted(h.name for h in fleet.workers)
    want = str(len(workers))
    with fleet.daemonset(manifest("daemonset-example.yaml", image=fleet.image)):

        def settled() -> dict[str, str] | None:
            rows = table(fleet.kubectl("get", "daemonset").stdout)
            row = next(r for r in rows if r["NAME"] == "daemonset-example")
            counts = [row[c] for c in ("DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE")]
            return row if counts == [want] * 5 else None

        row = wait_for(settled, timeout=60, message="daemonset-example settled on the workers")
        assert row["NODE SELECTOR"] == "<none>"

        pods = table(fleet.kubectl("get", "pods", "-o", "wide").stdout)
        pods = [p for p in pods if p["NAME"].startswith("daemonset-example-")]
        assert sorted(p["NODE"] for p in pods) == workers
        for pod in pods:
            assert pod["READY"] == "1/1"
            assert pod["STATUS"] == "Running"
            ipaddress.ip_address(pod["IP"])  # a real address, not <none>
            host = fleet.host(pod["NODE"])
            assert [c["Labels"]["io.nodeagent.pod.name"] for c in host.running(pod["NAME"])] == [
                pod["NAME"]
            ]
        assert fleet.host("master").running("daemonset-example-") == []

        nodes = table(fleet.kubectl("get", "nodes", "-o", "wide").stdout)
        assert {n["NAME"]: n["INTERNAL-IP"] for n in nodes} == {h.name: h.ip for h in fleet.hosts}
        for obj in fleet.pods("name=daemonset-example"):
            assert obj["status"]["hostIP"] == fleet.host(obj["spec"]["nodeName"]).ip


def test_seed_004_fluentd_tolerates_the_control_plane(fleet: Fleet) -> None:
    """The fluentd-elasticsearch DaemonSet (seed 004) tolerates the master's taint and runs on
    every host, control plane included, in kube-system."""
    text = manifest("fluentd-elasticsearch.yaml", image=fleet.image)
    everyone = sorted(h.name for h in fleet.hosts)
    with fleet.daemonset(text):

        def placed() -> list[str] | None:
            pods = fleet.pods("name=fluentd-elasticsearch", namespace="kube-system")
            nodes = sorted(p["spec"].get("nodeName", "") for p in pods if pod_ready(p))
            return nodes if nodes == everyone else None

        wait_for(placed, timeout=60, message="a ready fluentd pod on every host")
        for host in fleet.hosts:
            assert len(host.running("fluentd-elasticsearch-")) == 1, host.name


def test_deleted_pod_comes_back_with_a_new_name_on_the_same_node(fleet: Fleet) -> None:
    """`kubectl delete pod` one daemon pod: a new pod (new name) runs on that node (seed 001)."""
    with fleet.daemonset(manifest("daemonset-example.yaml", image=fleet.image)):
        wait_for(
            lambda: (
                len([p for p in fleet.pods("name=daemonset-example") if pod_ready(p)])
                == len(fleet.workers)
            ),
            timeout=60,
            message="daemonset-example ready on the workers",
        )
        victim = next(
            p for p in fleet.pods("name=daemonset-example") if p["spec"]["nodeName"] == "node1"
        )
        old_name = victim["metadata"]["name"]
        old_ids = {c["Id"] for c in fleet.host("node1").running(old_name)}
        fleet.kubectl("delete", "pod", old_name)

        def replaced() -> str | None:
            pods = [p for p in fleet.pods("name=daemonset-example") if pod_ready(p)]
            on_node1 = [p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == "node1"]
            return on_node1[0] if on_node1 and on_node1[0] != old_name else None

        new_name = wait_for(replaced, timeout=60, message="a new ready pod on node1")
        host = fleet.host("node1")
        wait_for(lambda: host.running(new_name), timeout=30, message="its container running")
        assert host.running(old_name) == []
        assert not old_ids & {c["Id"] for c in host.running("daemonset-example-")}


def test_node_exporter_serves_each_hosts_figures_on_its_address(fleet: Fleet) -> None:
    """manifests/node-exporter.yaml (hostNetwork, hostPID, tolerates every taint) gets ready on
    every host, and each host's address answers /metrics on port 9100 with the host's figures."""
    everyone = sorted(h.name for h in fleet.hosts)
    with fleet.daemonset(manifest("node-exporter.yaml", image=fleet.image)):

        def placed() -> bool:
            pods = fleet.pods("app=node-exporter", namespace="kube-system")
            return sorted(p["spec"]["nodeName"] for p in pods if pod_ready(p)) == everyone

        wait_for(placed, timeout=60, message="a ready node-exporter on every host")
        for host in fleet.hosts:
            with urllib.request.urlopen(f"http://{host.ip}:9100/metrics", timeout=5) as reply:
                body = reply.read().decode()
            assert "node_processes" in body, host.name
