"""The reconcile loop over the in-memory FakeRuntime: statuses, pull back-off, runtime down."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.reconciler import Reconciler
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.api.bodies import Obj
from nodeagent.runtime.fake import FakeRuntime
from nodeagent.runtime.protocol import RuntimeUnavailable

from .helpers import UID, pod
from .helpers import reconciler as make


async def settle(r: Reconciler) -> None:
    await r.reconcile_once()
    await r.executor.drain()
    await r.reconcile_once()


def container_state(r: Reconciler) -> Obj:
    state: Obj = r.state.pods[UID].status["containerStatuses"][0]["state"]
    return state


async def test_desired_pod_runs_and_is_reported(tmp_path: Any) -> None:
    """A pod from a source gets containers; its record shows Running with container ids."""
    fake = FakeRuntime(images={"busybox:1"})
    r = make(fake, str(tmp_path))
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(),)))
    await settle(r)
    record = r.state.pods[UID]
    assert record.status["phase"] == "Running"
    assert set(record.container_ids) == {"app"}
    assert r.state.runtime_error is None
    assert r.state.changed.is_set()


async def test_failed_pull_shows_err_image_pull_then_backoff(tmp_path: Any) -> None:
    """A pull failure shows ErrImagePull, and a pass later in the backoff ImagePullBackOff."""
    fake = FakeRuntime(unpullable={"busybox:1"})
    r = make(fake, str(tmp_path))
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(),)))
    await r.reconcile_once()
    await r.executor.drain()
    assert r.executor.waiting[UID]["app"].reason == "ErrImagePull"
    await r.reconcile_once()
    assert container_state(r)["waiting"]["reason"] == "ErrImagePull"  # as kubelet, for a while
    fake.now += 6
    await r.reconcile_once()
    assert container_state(r)["waiting"]["reason"] == "ImagePullBackOff"
    assert "not found" in container_state(r)["waiting"]["message"]
    pulls = len([c for c in fake.calls if c[0] == "ensure_image"])
    await settle(r)
    assert len([c for c in fake.calls if c[0] == "ensure_image"]) == pulls  # backing off
    fake.now += 5
    await settle(r)
    assert len([c for c in fake.calls if c[0] == "ensure_image"]) == pulls + 1  # retried


def _ready(r: Reconciler) -> Obj:
    found: Obj = next(c for c in r.state.pods[UID].status["conditions"] if c["type"] == "Ready")
    return found


async def test_runtime_down_marks_state_and_kills_nothing(tmp_path: Any) -> None:
    """When the engine stops answering, runtime_error is set and no container is touched;
    the pods' Ready turns False (the phase stays), and True again with the engine back."""
    fake = FakeRuntime(images={"busybox:1"})
    r = make(fake, str(tmp_path))
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(),)))
    await settle(r)
    assert _ready(r)["status"] == "True"
    before = dict(fake.containers)
    fake.inject_error("list_containers", RuntimeUnavailable("socket gone"), times=None)
    fake.calls.clear()
    await r.reconcile_once()
    assert r.state.runtime_error is not None
    assert "socket gone" in r.state.runtime_error
    assert fake.containers == before
    assert [name for name, _ in fake.calls if name != "list_containers"] == []
    assert (_ready(r)["status"], _ready(r)["reason"]) == ("False", "ContainerRuntimeDown")
    assert r.state.pods[UID].status["phase"] == "Running"
    fake.clear_error("list_containers")
    await r.reconcile_once()
    assert r.state.runtime_error is None
    assert _ready(r)["status"] == "True"


async def test_removed_pod_is_stopped_and_forgotten(tmp_path: Any) -> None:
    """An empty SET stops and removes the pod's containers, then its record goes."""
    fake = FakeRuntime(images={"busybox:1"})
    r = make(fake, str(tmp_path))
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(),)))
    await settle(r)
    r.apply(SourceUpdate(source=SourceName.FILE, pods=()))
    await settle(r)
    await settle(r)
    assert fake.containers == {}
    assert UID not in r.state.pods
