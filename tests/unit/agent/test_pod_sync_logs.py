"""A pod's sync logs with its pod and pod_uid bound once (structlog contextvars), not repeated
by hand; the context stays with that pod's task."""

from __future__ import annotations

from pathlib import Path

import structlog
from structlog.testing import capture_logs

from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.runtime.fake import FakeRuntime

from .helpers import UID, pod
from .helpers import reconciler as make


async def test_every_line_of_a_pod_sync_names_the_pod(tmp_path: Path) -> None:
    """The sandbox, the container start and a failed start each carry pod and pod_uid; the
    sandbox is logged once; a line logged outside the sync carries neither."""
    fake = FakeRuntime(images={"busybox:1"}, unpullable={"busybox:2"})
    r = make(fake, str(tmp_path))
    broken = pod(uid="uid-2", name="broken")
    broken["spec"]["containers"][0]["image"] = "busybox:2"
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(), broken)))
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await r.reconcile_once()
        await r.executor.drain()
        structlog.get_logger().info("after_the_sync")
    named = {(e["event"], e.get("pod"), e.get("pod_uid")) for e in logs}
    assert ("sandbox_created", "web", UID) in named
    assert ("container_started", "web", UID) in named
    assert ("container_start_failed", "broken", "uid-2") in named
    assert [e["event"] for e in logs].count("sandbox_created") == 2  # one per pod, one layer
    after = next(e for e in logs if e["event"] == "after_the_sync")
    assert {"pod", "pod_uid"}.isdisjoint(after)
