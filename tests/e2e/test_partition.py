"""A host cut off the network (issue 8 scenario 8): Unknown and tainted on the server, its daemon
untouched on the host, and back to Ready with no container restarted once healed. With iptables
in the hosts' namespaces (issue 19): short cuts (DROP, REJECT) and a lossy link keep nodes
Ready; every node cut off at once evicts nothing."""

from __future__ import annotations

import time

import pytest

from nodeagent.api.bodies import Obj
from tests.e2e.harness import Fleet
from tests.e2e.reading import example_daemonset, pod_ready, wait_for
from tests.faults.serverfaults import cut_link, heal_link

pytestmark = pytest.mark.e2e
UNREACHABLE = "node.kubernetes.io/unreachable"


def _node(fleet: Fleet, name: str) -> Obj:
    return fleet.kubectl_json("get", "node", name)


def _ready_status(node: Obj) -> str:
    conds = node.get("status", {}).get("conditions", [])
    return next((str(c["status"]) for c in conds if c["type"] == "Ready"), "")


def _taint_keys(node: Obj) -> set[str]:
    return {t["key"] for t in node.get("spec", {}).get("taints", [])}


def test_partitioned_host_keeps_its_daemon_and_reconverges(fleet: Fleet) -> None:
    """Link down: the node goes Unknown with the unreachable taint while its container runs on;
    link up: Ready again, taint gone, the same container, never restarted."""
    host = fleet.host("node2")
    with fleet.daemonset(example_daemonset("ds-partition", image=fleet.image)):
        wait_for(
            lambda: (
                len([p for p in fleet.pods("name=ds-partition") if pod_ready(p)])
                == len(fleet.workers)
            ),
            timeout=60,
            message="ds-partition ready on the workers",
        )
        pod_name = next(
            p["metadata"]["name"]
            for p in fleet.pods("name=ds-partition")
            if p["spec"]["nodeName"] == "node2"
        )
        [before] = host.running(pod_name)
        fleet.partition(host)
        try:
            node = wait_for(
                lambda: (
                    (n := _node(fleet, "node2"))
                    and _ready_status(n) == "Unknown"
                    and UNREACHABLE in _taint_keys(n)
                    and n
                ),
                timeout=60,
                message="node2 Unknown and tainted unreachable",
            )
            assert "NotReady" in fleet.kubectl("get", "node", "node2").stdout
            assert UNREACHABLE in _taint_keys(node)
            [during] = host.running(pod_name)
            assert during["Id"] == before["Id"]
        finally:
            fleet.heal(host)
        wait_for(
            lambda: (
                (n := _node(fleet, "node2"))
                and _ready_status(n) == "True"
                and UNREACHABLE not in _taint_keys(n)
            ),
            timeout=60,
            message="node2 Ready again and untainted",
        )
        wait_for(
            lambda: any(
                p["metadata"]["name"] == pod_name and pod_ready(p)
                for p in fleet.pods("name=ds-partition")
            ),
            timeout=60,
            message="the same pod ready again on node2",
        )
        [after] = host.running(pod_name)
        assert after["Id"] == before["Id"]
        inspect = host.podman("inspect", "--format", "{{.RestartCount}}", after["Id"]).stdout
        assert inspect.strip() == "0"
        assert after["StartedAt"] == before["StartedAt"]


def _pods_by_node(fleet: Fleet, selector: str) -> dict[str, list[tuple[str, str]]]:
    """node -> [(pod name, uid)] of the DaemonSet's pods."""
    out: dict[str, list[tuple[str, str]]] = {}
    for p in fleet.pods(selector):
        out.setdefault(p["spec"]["nodeName"], []).append(
            (p["metadata"]["name"], p["metadata"]["uid"])
        )
    return out


def _ready_everywhere(fleet: Fleet, selector: str) -> bool:
    return len([p for p in fleet.pods(selector) if pod_ready(p)]) == len(fleet.workers)


def _server_ip(fleet: Fleet) -> str:
    return f"{fleet.subnet}.1"


def test_short_cuts_and_a_lossy_link_keep_nodes_ready(fleet: Fleet) -> None:
    """iptables in the hosts' namespaces, at once: node1's packets to the server dropped and
    master's refused (TCP reset) for 4 s (a third of the grace), node2's dropped at random
    (30 %) for 10 s: every node stays Ready all along (renewals get through, or come late but
    in time), and each worker keeps exactly one pod, the same (retried writes duplicate
    nothing)."""
    with fleet.daemonset(example_daemonset("ds-lossy", image=fleet.image)):
        wait_for(lambda: _ready_everywhere(fleet, "name=ds-lossy"), timeout=60, message="ready")
        before = _pods_by_node(fleet, "name=ds-lossy")
        master, node1, node2 = fleet.host("master"), fleet.host("node1"), fleet.host("node2")
        cut_link(node1.netns, _server_ip(fleet), "DROP")
        cut_link(master.netns, _server_ip(fleet), "REJECT")
        cut_link(node2.netns, _server_ip(fleet), "LOSSY")
        try:
            deadline = time.monotonic() + 10
            short_cuts = True
            while time.monotonic() < deadline:
                if short_cuts and time.monotonic() > deadline - 6:
                    heal_link(node1.netns)
                    heal_link(master.netns)
                    short_cuts = False
                for host in (master, node1, node2):
                    status = _ready_status(_node(fleet, host.name))
                    assert status == "True", f"{host.name} left Ready"
                time.sleep(0.5)
        finally:
            for host in (master, node1, node2):
                heal_link(host.netns)
        assert _pods_by_node(fleet, "name=ds-lossy") == before
        for host in (node1, node2):
            assert len(host.running("ds-lossy")) == 1


def test_every_node_cut_off_at_once_evicts_nothing(fleet: Fleet) -> None:
    """All hosts' packets to the server dropped past the grace: every node Unknown (the node
    lifecycle controller's full disruption), yet no pod is deleted or replaced and every
    container runs on; healed, all Ready with the same pods and containers."""
    with fleet.daemonset(example_daemonset("ds-alloff", image=fleet.image)):
        wait_for(lambda: _ready_everywhere(fleet, "name=ds-alloff"), timeout=60, message="ready")
        before = _pods_by_node(fleet, "name=ds-alloff")
        containers = {h.name: [c["Id"] for c in h.running("ds-alloff")] for h in fleet.workers}
        for host in fleet.hosts:
            cut_link(host.netns, _server_ip(fleet), "DROP")
        try:
            wait_for(
                lambda: all(_ready_status(_node(fleet, h.name)) == "Unknown" for h in fleet.hosts),
                timeout=60,
                message="every node Unknown",
            )
            assert _pods_by_node(fleet, "name=ds-alloff") == before
        finally:
            for host in fleet.hosts:
                heal_link(host.netns)
        fleet.wait_ready([h.name for h in fleet.hosts], timeout=60)
        assert _pods_by_node(fleet, "name=ds-alloff") == before
        assert {h.name: [c["Id"] for c in h.running("ds-alloff")] for h in fleet.workers} == (
            containers
        )
