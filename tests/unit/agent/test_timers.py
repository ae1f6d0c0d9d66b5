"""The reconcile loop's timers: the plan and the prober say when they are due next, and the loop
wakes for them with no periodic resync at all (syncInterval is only a safety net)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from nodeagent.agent.actions import StartContainer, Waiting
from nodeagent.agent.backoff import record_restart
from nodeagent.agent.executor import Executor
from nodeagent.agent.plan import START_KEY_PREFIX, next_recheck, plan
from nodeagent.agent.probers import Prober
from nodeagent.agent.reconciler import Reconciler, follow_runtime_events
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.state import AgentState
from nodeagent.runtime.fake import FakeRuntime
from nodeagent.runtime.protocol import ContainerState
from tests.support.wait import wait_for

from .helpers import UID, container, desired, exited, pod, sandbox

NOW = 10_000.0


def test_crash_loop_wait_says_when_the_backoff_ends() -> None:
    """A CrashLoopBackOff wait is due again when the container's back-off has passed."""
    state = record_restart({}, (UID, "app"), now=NOW - 20)  # next delay 10 s
    dead = [sandbox(), exited("app", 1, attempt=1, finished_at=NOW - 4)]
    actions = plan(desired=desired(pod()), observed=dead, restarts=state, probes={}, now=NOW)
    assert isinstance(actions[0], Waiting)
    assert actions[0].recheck_at == NOW + 6
    assert next_recheck(actions) == NOW + 6


def test_failed_pull_wait_is_due_when_its_reason_changes_then_when_it_ends() -> None:
    """ErrImagePull is due again when it turns into ImagePullBackOff, that when the pull may go."""
    key = (UID, START_KEY_PREFIX + "app")
    state = record_restart({}, key, now=NOW, reason="ErrImagePull", message="no such image")
    fresh = plan(desired=desired(pod()), observed=[sandbox()], restarts=state, probes={}, now=NOW)
    assert isinstance(fresh[0], Waiting)
    assert (fresh[0].reason, fresh[0].recheck_at) == ("ErrImagePull", NOW + 5)
    later = plan(
        desired=desired(pod()), observed=[sandbox()], restarts=state, probes={}, now=NOW + 5
    )
    assert isinstance(later[0], Waiting)
    assert (later[0].reason, later[0].recheck_at) == ("ImagePullBackOff", NOW + 10)


def test_nothing_to_wait_for_has_no_timer() -> None:
    """A steady pod plans nothing and sets no timer; a missing container of it is started."""
    p = pod(containers=("app", "side"))
    both = [sandbox(), container("app"), container("side")]
    assert plan(desired=desired(p), observed=both, restarts={}, probes={}, now=NOW) == []
    assert next_recheck([]) is None
    one = [sandbox(), container("app")]
    assert plan(desired=desired(p), observed=one, restarts={}, probes={}, now=NOW) == [
        StartContainer(pod_uid=UID, container_name="side", attempt=0)
    ]


async def test_prober_says_when_the_next_probe_is_due() -> None:
    """Before its initial delay a probe is due at start + delay; once started, a period on."""
    p = pod()
    p["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["true"]},
        "initialDelaySeconds": 5,
        "periodSeconds": 7,
    }
    d = desired(p)
    app = container("app", started_at=NOW)
    prober = Prober(runtime=FakeRuntime(), host_ip="192.0.2.1")
    assert prober.tick(pods=d, observed=[sandbox(), app], now=NOW + 1) == NOW + 5
    assert prober.tick(pods=d, observed=[sandbox(), app], now=NOW + 5) == NOW + 12
    await prober.cancel()
    assert prober.tick(pods={}, observed=[], now=NOW + 6) is None


async def test_crashed_container_restarts_after_its_backoff_with_no_resync(
    tmp_path: Path,
) -> None:
    """With the resync an hour away, a death restarts the container at once (its event), and
    the next death restarts it when its back-off has passed (the loop's timer)."""
    fake = FakeRuntime(images={"busybox:1"})
    start = time.monotonic()

    def clock() -> float:  # the fake's time, moving as real time does
        return fake.now + (time.monotonic() - start)

    executor = Executor(
        runtime=fake, node_name="n1", host_ip="192.0.2.1", state_dir=str(tmp_path), clock=clock
    )
    r = Reconciler(
        runtime=fake,
        state=AgentState(node_name="n1"),
        executor=executor,
        prober=Prober(runtime=fake, host_ip="192.0.2.1"),
        host_ip="192.0.2.1",
        clock=clock,
    )
    executor.on_done = r.wake.set
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(),)))

    def app(attempt: int) -> Any:
        return next(
            (
                c
                for c in fake.containers.values()
                if c.container_name == "app"
                and c.attempt == attempt
                and c.state is ContainerState.RUNNING
            ),
            None,
        )

    loop_task = asyncio.create_task(r.run(interval=3600.0))
    events_task = asyncio.create_task(follow_runtime_events(fake, r.wake))
    try:
        first = await wait_for(lambda: app(0), timeout=5, message="the container runs")
        fake.exit_container(first.id, 1)
        second = await wait_for(lambda: app(1), timeout=5, message="restarted at once")
        fake.now -= 9.7  # the second death 9.7 s ago: 0.3 s of its 10 s back-off are left
        fake.exit_container(second.id, 1)
        fake.now += 9.7
        await wait_for(lambda: app(2), timeout=5, message="restarted when the back-off ended")
    finally:
        for task in (loop_task, events_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await executor.cancel()
