"""kubelet's image events from the executor over the FakeRuntime: Pulling then Pulled with the
pull's time and size, or "already present"; queued on the agent state, bounded."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.state import POD_EVENTS_QUEUED, AgentState
from nodeagent.runtime.fake import FAKE_IMAGE_SIZE, FakeRuntime

from .helpers import UID, pod
from .helpers import reconciler as make


async def started(fake: FakeRuntime, tmp: Any, **spec: Any) -> list[tuple[str, str]]:
    r = make(fake, str(tmp))
    p = pod()
    for c in p["spec"]["containers"]:
        c.update(spec)
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(p,)))
    await r.reconcile_once()
    await r.executor.drain()
    await r.reconcile_once()
    assert r.state.pods[UID].status["phase"] == "Running"
    assert all(uid == UID for uid, _e in r.state.pod_events)
    return [(reason, message) for _uid, (_t, reason, message) in r.state.pod_events]


async def test_an_image_pulled_shows_pulling_then_how_long_and_how_big(tmp_path: Any) -> None:
    got = await started(FakeRuntime(), tmp_path)
    assert got == [
        ("Pulling", 'Pulling image "busybox:1"'),
        (
            "Pulled",
            'Successfully pulled image "busybox:1" in 0s (0s including waiting).'
            f" Image size: {FAKE_IMAGE_SIZE} bytes.",
        ),
    ]


async def test_an_image_already_there_is_not_pulled(tmp_path: Any) -> None:
    for policy in ("IfNotPresent", "Never"):
        got = await started(FakeRuntime(images={"busybox:1"}), tmp_path, imagePullPolicy=policy)
        assert got == [("Pulled", 'Container image "busybox:1" already present on machine')]


async def test_always_pulls_an_image_that_is_there(tmp_path: Any) -> None:
    got = await started(FakeRuntime(images={"busybox:1"}), tmp_path, imagePullPolicy="Always")
    assert [reason for reason, _m in got] == ["Pulling", "Pulled"]


async def test_a_failed_pull_records_pulling_only(tmp_path: Any) -> None:
    """The failure itself is Failed/BackOff, derived from the status (podevents.pod_events)."""
    r = make(FakeRuntime(unpullable={"busybox:1"}), str(tmp_path))
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(),)))
    await r.reconcile_once()
    await r.executor.drain()
    assert [e[1] for _uid, e in r.state.pod_events] == ["Pulling"]


def test_the_queue_is_bounded_and_drops_the_oldest() -> None:
    state = AgentState(node_name="n1")
    for i in range(POD_EVENTS_QUEUED + 3):
        state.record_pod_event(f"u{i}", ("Normal", "Pulled", "m"))
    assert len(state.pod_events) == POD_EVENTS_QUEUED
    assert state.pod_events[0][0] == "u3"
    assert state.changed.is_set()
