"""The controllers' workqueue metrics on a real server's /metrics (kube-controller-manager's)."""

from __future__ import annotations

from tests.integration.controllers.fleet import Fleet, daemonset_manifest
from tests.support.wait import wait_for


def _sample(text: str, name: str) -> float | None:
    """The value of the sample `name` (with its labels), if /metrics has it."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


async def test_daemonset_syncs_show_in_the_workqueue_metrics(fleet: Fleet) -> None:
    """Creating a DaemonSet queues and syncs it: /metrics (admin token) counts the adds and the
    syncs under name="daemonset"; without a token /metrics still answers 401."""
    server = fleet.server
    await fleet.add_node("n1")
    await fleet.create_ds(daemonset_manifest())

    async def synced() -> str | None:
        async with fleet.http.get(server.url + "/metrics") as r:
            assert r.status == 200
            text = await r.text()
        works = _sample(text, 'workqueue_work_duration_seconds_count{name="daemonset"}')
        return text if works else None

    text = await wait_for(synced, timeout=20, message="a DaemonSet sync in /metrics")
    assert (_sample(text, 'workqueue_adds_total{name="daemonset"}') or 0) > 0
    assert _sample(text, 'workqueue_depth{name="daemonset"}') is not None
    assert _sample(text, 'workqueue_adds_total{name="serviceaccount"}') is not None
    assert _sample(text, 'workqueue_adds_total{name="root_ca_cert_publisher"}') is not None
    async with server.session(token=None) as anonymous, anonymous.get(server.url + "/metrics") as r:
        assert r.status == 401
