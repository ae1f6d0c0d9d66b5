"""A pod whose volume names a missing Secret waits in ContainerCreating with kubelet's
FailedMount event, and starts as soon as the Secret arrives (executor over the FakeRuntime)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from nodeagent.agent.objectcache import ObjectCache
from nodeagent.agent.podvolumes import PodVolumes
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.runtime.fake import FakeRuntime

from .helpers import UID, pod
from .helpers import reconciler as make

ORIGIN = "/etc/nodeagent/manifests/web.yaml"
MESSAGE = 'MountVolume.SetUp failed for volume "creds" : secret "db" not found'


def static_pod() -> dict[str, Any]:
    p = pod(volumes=[{"name": "creds", "secret": {"secretName": "db"}}])
    p["metadata"]["annotations"] = {
        "kubernetes.io/config.source": "file",
        "nodeagent.io/manifest": ORIGIN,
    }
    return p


def waiting(status: dict[str, Any]) -> dict[str, Any]:
    return dict(status["containerStatuses"][0]["state"].get("waiting") or {})


async def test_missing_secret_volume_waits_then_starts(tmp_path: Path) -> None:
    """ContainerCreating + FailedMount while the Secret is missing; Running once it is there,
    without waiting out the 10 s retry; the volume holds the Secret's key."""
    fake = FakeRuntime(images={"busybox:1"})
    r = make(fake, str(tmp_path))
    cache = ObjectCache(state_dir=str(tmp_path))
    r.executor.objects = cache
    r.executor.volumes = PodVolumes(volume_dir=r.executor.volume_dir, allocatable={}, tmpfs=False)
    cache.on_change = r.executor.retry_waiting_on_objects
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(static_pod(),)))
    await r.reconcile_once()
    await r.executor.drain()
    await r.reconcile_once()
    assert waiting(r.state.pods[UID].status) == {"reason": "ContainerCreating", "message": MESSAGE}
    assert ("Warning", "FailedMount", MESSAGE) in [e for _uid, e in r.state.pod_events]
    assert not [c for c in fake.containers.values() if c.pod_uid == UID and not c.is_sandbox]

    secret = {"kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
              "data": {"password": base64.b64encode(b"pw").decode()}}  # fmt: skip
    cache.set_file_objects({ORIGIN: [secret]})
    await r.reconcile_once()
    await r.executor.drain()
    await r.reconcile_once()
    assert r.state.pods[UID].status["phase"] == "Running"
    volume = Path(r.executor.volume_dir(UID)) / "creds" / "password"
    assert volume.read_bytes() == b"pw"
