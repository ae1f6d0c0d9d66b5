"""A pod whose sync failed waits kubelet's jittered backOffPeriod before it is tried again."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.agent import syncretry
from nodeagent.agent.actions import CreateSandbox, StartContainer, Waiting
from nodeagent.agent.plan import next_recheck, plan
from nodeagent.agent.reconciler import Reconciler
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.runtime.fake import FakeRuntime
from nodeagent.runtime.protocol import RuntimeError_

from .helpers import UID, desired, pod
from .helpers import reconciler as make

NOW = 10_000.0


def failed(*, jitter: float = 0.0, spec_hash: str = "h1") -> dict[str, syncretry.SyncFailure]:
    return syncretry.record_failure(
        {},
        UID,
        spec_hash=spec_hash,
        now=NOW,
        jitter=jitter,
        reason="",
        message="open /missing/f: no such file or directory",
        containers=("app",),
    )


@pytest.mark.parametrize(
    ("jitter", "retry_in"), [(0.0, 10.0), (0.5, 12.5), (0.999, 14.995), (7.0, 15.0)]
)
def test_retry_is_ten_seconds_plus_up_to_half_again(jitter: float, retry_in: float) -> None:
    """kubelet's wait.Jitter(10 s, 0.5): flat, never doubled; a draw out of range is clamped."""
    failure = failed(jitter=jitter)[UID]
    assert failure.retry_at - NOW == pytest.approx(retry_in)
    assert failure.reason == "ContainerCreating"  # kubelet's word for a container not made yet


def test_failed_pod_waits_with_its_reason_until_the_retry_time() -> None:
    """Until the retry time the plan only says why (due at that time); then it plans again."""
    failures = failed()
    retry_at = failures[UID].retry_at
    actions = plan(
        desired=desired(pod()), observed=[], restarts={}, probes={}, now=NOW + 1, failures=failures
    )
    assert actions == [
        Waiting(
            pod_uid=UID,
            container_name="app",
            reason="ContainerCreating",
            message="open /missing/f: no such file or directory",
            recheck_at=retry_at,
        )
    ]
    assert next_recheck(actions) == retry_at
    again = plan(
        desired=desired(pod()), observed=[], restarts={}, probes={}, now=retry_at, failures=failures
    )
    assert again == [
        CreateSandbox(pod_uid=UID),
        StartContainer(pod_uid=UID, container_name="app", attempt=0),
    ]


def test_a_new_spec_or_a_deletion_is_not_held() -> None:
    """The failure belongs to the spec that failed: another spec hash goes at once."""
    actions = plan(
        desired=desired(pod(), spec_hash="h2"),
        observed=[],
        restarts={},
        probes={},
        now=NOW + 1,
        failures=failed(spec_hash="h1"),
    )
    assert CreateSandbox(pod_uid=UID) in actions
    assert syncretry.holding(failed(), UID, spec_hash="h1", now=NOW + 1) is not None
    assert syncretry.forget_gone(failed(), set()) == {}


async def test_a_failing_pod_is_tried_once_per_period_with_a_warning_event(tmp_path: Any) -> None:
    """An OSError creating the container: one try, a FailedSync event and the error as the
    waiting message; passes before the retry time try nothing; after it, the pod starts."""
    fake = FakeRuntime()
    r: Reconciler = make(fake, str(tmp_path))
    r.executor.jitter = lambda: 0.0
    fake.inject_error("create_container", OSError(2, "No such file or directory"), times=None)
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(),)))
    for _ in range(5):
        await r.reconcile_once()
        await r.executor.drain()
    tries = [name for name, _ in fake.calls if name == "create_container"]
    assert len(tries) == 1
    assert r.recheck_at == fake.now + syncretry.BACKOFF_PERIOD
    events = [e for uid, e in r.state.pod_events if uid == UID and e[1] == "FailedSync"]
    assert events == [
        ("Warning", "FailedSync", "error syncing pod: [Errno 2] No such file or directory")
    ]
    shown = r.state.pods[UID].status["containerStatuses"][0]["state"]["waiting"]
    assert shown == {
        "reason": "ContainerCreating",
        "message": "[Errno 2] No such file or directory",
    }

    fake.clear_error("create_container")
    fake.now += syncretry.BACKOFF_PERIOD
    await r.reconcile_once()
    await r.executor.drain()
    await r.reconcile_once()
    assert r.state.pods[UID].status["containerStatuses"][0]["state"].keys() == {"running"}
    assert r.executor.failures == {}


async def test_a_sandbox_that_cannot_be_created_is_a_failed_create_pod_sandbox(
    tmp_path: Any,
) -> None:
    """kubelet's FailedCreatePodSandBox event; the sandbox is not tried again before the retry."""
    fake = FakeRuntime()
    r: Reconciler = make(fake, str(tmp_path))
    fake.inject_error("create_sandbox", RuntimeError_("netns busy"), times=None)
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(),)))
    for _ in range(3):
        await r.reconcile_once()
        await r.executor.drain()
    assert [name for name, _ in fake.calls].count("create_sandbox") == 1
    reasons = [e[1] for uid, e in r.state.pod_events if uid == UID]
    assert reasons == ["FailedCreatePodSandBox"]
    r.executor.retry_waiting_on_objects()  # a ConfigMap/Secret arrived: try at once
    await r.reconcile_once()
    await r.executor.drain()
    assert [name for name, _ in fake.calls].count("create_sandbox") == 2
