"""`kubectl get pods` shows ErrImagePull right after a failed pull and ImagePullBackOff later in
the wait, as kubelet does (before, ErrImagePull was never seen: the backoff word came at once)."""

from __future__ import annotations

import pytest

from nodeagent.agent.actions import Waiting
from nodeagent.agent.backoff import BackoffState, record_restart
from nodeagent.agent.plan import START_KEY_PREFIX, plan

from .helpers import UID, desired, pod, sandbox

NOW = 10_000.0


def _reason(*, failed_ago: float, failures: int = 1, why: str = "ErrImagePull") -> str:
    key = (UID, START_KEY_PREFIX + "app")
    state: BackoffState = {}
    for n in range(failures, 0, -1):
        state = record_restart(
            state, key, now=NOW - failed_ago - 0.001 * (n - 1), reason=why, message="m"
        )
    actions = plan(desired=desired(pod()), observed=[sandbox()], restarts=state, probes={}, now=NOW)
    assert isinstance(actions[0], Waiting), actions
    return actions[0].reason


@pytest.mark.parametrize(
    ("failed_ago", "failures", "reason"),
    [
        (1, 1, "ErrImagePull"),  # first 10 s wait: 5 s each word
        (6, 1, "ImagePullBackOff"),
        (1, 3, "ErrImagePull"),  # a 40 s wait: 10 s of the failure, then the backoff word
        (12, 3, "ImagePullBackOff"),
    ],
)
def test_pull_failure_then_backoff_word(failed_ago: float, failures: int, reason: str) -> None:
    assert _reason(failed_ago=failed_ago, failures=failures) == reason


def test_other_start_failures_keep_their_word() -> None:
    """A start failure without a backoff word (CreateContainerConfigError) shows it throughout."""
    assert _reason(failed_ago=8, why="CreateContainerConfigError") == "CreateContainerConfigError"
