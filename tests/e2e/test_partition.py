"""A host cut off the network (issue 8 scenario 8): Unknown and tainted on the server, its daemon
untouched on the host, and back to Ready with no container restarted once healed."""

from __future__ import annotations

import pytest

from nodeagent.api.bodies import Obj
from tests.e2e.harness import Fleet
from tests.e2e.reading import example_daemonset, pod_ready, wait_for

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
