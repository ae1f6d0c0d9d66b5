"""Hosts come and go, labels change: the DaemonSet follows (issue 8 scenarios 4 and 5)."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Fleet
from tests.e2e.reading import example_daemonset, pod_ready, wait_for

pytestmark = pytest.mark.e2e


def _ready_nodes(fleet: Fleet, selector: str) -> list[str]:
    return sorted(p["spec"]["nodeName"] for p in fleet.pods(selector) if pod_ready(p))


def test_a_new_host_gets_a_pod_and_a_removed_hosts_pod_is_collected(fleet: Fleet) -> None:
    """A fourth host joins and gets its daemon pod within seconds; once the host is gone and
    its Node deleted, its pod is garbage collected from the server."""
    text = example_daemonset("ds-joiners", image=fleet.image)
    with fleet.daemonset(text):
        workers = sorted(h.name for h in fleet.workers)
        wait_for(
            lambda: _ready_nodes(fleet, "name=ds-joiners") == workers,
            timeout=60,
            message="ds-joiners ready on the workers",
        )
        newcomer = fleet.add_host("node9")
        try:
            wait_for(
                lambda: _ready_nodes(fleet, "name=ds-joiners") == sorted([*workers, "node9"]),
                timeout=60,
                message="node9 joined and runs a ready ds-joiners pod",
            )
            assert len(newcomer.running("ds-joiners-")) == 1
        finally:
            fleet.remove_host(newcomer)
        fleet.kubectl("delete", "node", "node9")
        wait_for(
            lambda: all(p["spec"]["nodeName"] != "node9" for p in fleet.pods("name=ds-joiners")),
            timeout=60,
            message="node9's pod collected from the server",
        )
        wait_for(
            lambda: _ready_nodes(fleet, "name=ds-joiners") == workers,
            timeout=30,
            message="the workers' pods still ready",
        )


def test_node_selector_follows_the_nodes_labels(fleet: Fleet) -> None:
    """nodeSelector disk=ssd: `kubectl label node node1 disk=ssd` adds a pod there, removing
    the label removes it (and its container on the host)."""
    text = example_daemonset("ds-ssd", image=fleet.image, node_selector={"disk": "ssd"})
    host = fleet.host("node1")
    with fleet.daemonset(text):
        status = fleet.kubectl_json("get", "daemonset", "ds-ssd")["status"]
        assert status.get("desiredNumberScheduled", 0) == 0
        fleet.kubectl("label", "node", "node1", "disk=ssd")
        try:
            wait_for(
                lambda: _ready_nodes(fleet, "name=ds-ssd") == ["node1"],
                timeout=60,
                message="a ready ds-ssd pod on the labelled node1",
            )
            wait_for(lambda: host.running("ds-ssd-"), timeout=30, message="its container runs")
        finally:
            fleet.kubectl("label", "node", "node1", "disk-")
        wait_for(
            lambda: fleet.pods("name=ds-ssd") == [] and host.running("ds-ssd-") == [],
            timeout=60,
            message="the pod and its container gone from node1 after unlabelling",
        )
