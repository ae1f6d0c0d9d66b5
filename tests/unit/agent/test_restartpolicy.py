"""A dead container is restarted per restartPolicy, after its CrashLoopBackOff wait."""

from __future__ import annotations

import pytest

from nodeagent.agent.actions import Waiting
from nodeagent.agent.backoff import BackoffEntry
from nodeagent.agent.restartpolicy import RestartNow, restart_dead
from nodeagent.runtime.protocol import ContainerState
from tests.unit.agent.helpers import UID, container, pod


@pytest.mark.parametrize(
    ("policy", "exit_code", "restarts"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 137, True),
        ("Never", 1, False),
        ("Bogus", 0, True),  # anything else reads as the default, Always
    ],
)
def test_policy_decides_whether_an_exit_is_restarted(
    policy: str, exit_code: int, restarts: bool
) -> None:
    """With no back-off pending, the policy alone decides, and the next attempt is asked for."""
    dead = container("app", state=ContainerState.EXITED, exit_code=exit_code, attempt=2)
    decision = restart_dead(
        pod=pod(restart_policy=policy), uid=UID, container=dead, restarts={}, now=2000.0
    )
    assert decision == (RestartNow(attempt=3) if restarts else None)


def test_a_pending_back_off_is_a_crash_loop_wait() -> None:
    """A restart inside the back-off is a CrashLoopBackOff wait until the back-off ends."""
    dead = container("app", state=ContainerState.EXITED, exit_code=1, finished_at=1990.0)
    backoff = {(UID, "app"): BackoffEntry(delay=20.0, last_update=1980.0)}
    decision = restart_dead(pod=pod(), uid=UID, container=dead, restarts=backoff, now=2000.0)
    assert isinstance(decision, Waiting)
    assert decision.reason == "CrashLoopBackOff"
    assert decision.recheck_at == 2010.0
    assert "back-off 20s restarting failed container=app pod=web_default(uid-1)" in (
        decision.message
    )
