"""A DaemonSet sync logs with daemonset=NAMESPACE/NAME bound once (structlog contextvars)."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from tests.integration.controllers.fleet import Fleet, daemonset_manifest
from tests.support.wait import wait_for


async def test_every_line_of_a_daemonset_sync_names_the_daemonset(fleet: Fleet) -> None:
    """The pod the controller creates is logged with the DaemonSet's namespace/name, which no
    call passes by hand; a line logged outside the sync does not carry it."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await fleet.add_node("n1")
        await fleet.create_ds(daemonset_manifest())
        created = await wait_for(
            lambda: [e for e in logs if e["event"] == "daemon_pod_created"] or None,
            timeout=20,
            message="the controller creates the pod",
        )
    assert [(e["daemonset"], e["node"]) for e in created] == [("kube-system/fluentd", "n1")]
    # the Node the test created over HTTP: logged by the registry outside any sync
    [node] = [e for e in logs if e["event"] == "object_created" and e["resource"] == "nodes"]
    assert "daemonset" not in node
