"""The state dir's health: write results in, the StateDirUnwritable condition, retries and
announcements out (statedirhealth.py, pure), and StateDirWrites running and retrying writes."""

from __future__ import annotations

import errno

import pytest

from nodeagent.agent.state import AgentState
from nodeagent.agent.statedirhealth import (
    StateDirHealth,
    WriteResult,
    due,
    judge_write,
    next_retry,
    retry_delay,
    state_dir_condition,
)
from nodeagent.agent.statedirwrites import StateDirWrites, describe_os_error

CKPT = "/var/lib/nodeagent/api-pods.checkpoint.json"
CRED = "/var/lib/nodeagent/node-credential.json"
FULL = "No space left on device (ENOSPC)"
READ_ONLY = "Read-only file system (EROFS)"


def _fold(results: list[tuple[WriteResult, float]]) -> tuple[StateDirHealth, list[str]]:
    health, announced = StateDirHealth(), []
    for result, now in results:
        verdict = judge_write(health, result, now)
        health = verdict.health
        if verdict.announce:
            announced.append(verdict.announce)
    return health, announced


class TestJudgeWrite:
    def test_writes_that_succeed_leave_no_condition(self) -> None:
        """No failure since the start: no condition at all (as CheckpointCorrupt)."""
        health, announced = _fold([(WriteResult(path=CKPT), 1.0), (WriteResult(path=CRED), 2.0)])
        assert health == StateDirHealth()
        assert announced == []
        assert state_dir_condition(health) is None

    def test_a_failure_streak_is_announced_once(self) -> None:
        """Three failed writes of the checkpoint: one announcement naming the file and errno,
        the condition True, the retry time pushed back each time."""
        health, announced = _fold([(WriteResult(path=CKPT, error=FULL), t) for t in (10, 11, 13)])
        assert announced == [f"{CKPT}: {FULL}"]
        cond = state_dir_condition(health)
        assert cond is not None
        assert (cond.type, cond.status, cond.reason) == (
            "StateDirUnwritable",
            "True",
            "StateDirWriteFailed",
        )
        assert cond.message == f"cannot write the state dir: {CKPT}: {FULL}"
        failure = health.failing[CKPT]
        assert (failure.since, failure.attempts, failure.retry_at) == (10, 3, 13 + 4)

    def test_a_new_error_is_announced_again(self) -> None:
        """A full disk turned read-only: the new error is announced; the same one on another
        file is not."""
        _, announced = _fold(
            [
                (WriteResult(path=CKPT, error=FULL), 1.0),
                (WriteResult(path=CRED, error=FULL), 2.0),
                (WriteResult(path=CKPT, error=READ_ONLY), 3.0),
            ]
        )
        assert announced == [f"{CKPT}: {FULL}", f"{CKPT}: {READ_ONLY}"]

    def test_the_streak_ends_when_every_failed_file_was_written(self) -> None:
        """The condition stays True while one file still fails; False (naming what failed)
        once all were written, with how long the streak lasted."""
        health, _ = _fold(
            [(WriteResult(path=CKPT, error=FULL), 5.0), (WriteResult(path=CRED, error=FULL), 6.0)]
        )
        half = judge_write(health, WriteResult(path=CKPT), 8.0)
        assert half.recovered_after is None
        assert list(half.health.failing) == [CRED]
        done = judge_write(half.health, WriteResult(path=CRED), 9.5)
        assert done.recovered_after == 4.5
        cond = state_dir_condition(done.health)
        assert cond is not None
        assert (cond.status, cond.reason) == ("False", "StateDirWritable")
        assert (
            cond.message
            == f"the state dir is written again; it failed with: {CKPT}: {FULL}; {CRED}: {FULL}"
        )

    def test_retries_fall_due_in_order(self) -> None:
        """A failed file is due at its retry time; nothing is due when nothing fails."""
        health, _ = _fold([(WriteResult(path=CKPT, error=FULL), 100.0)])
        assert next_retry(health) == 101.0
        assert due(health, 100.5) == ()
        assert due(health, 101.0) == (CKPT,)
        assert next_retry(StateDirHealth()) is None

    @pytest.mark.parametrize(
        ("attempts", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (50, 10.0)]
    )
    def test_retry_delay_doubles_to_a_cap(self, attempts: int, delay: float) -> None:
        """1 s doubling, at most RETRY_MAX (10 s)."""
        assert retry_delay(attempts) == delay


class TestStateDirWrites:
    def test_a_failed_write_is_a_condition_a_warning_and_retried_until_written(self) -> None:
        """ENOSPC: recorded (not raised), one Warning queued; a newer write replaces the one
        to retry; the retry that succeeds clears the condition."""
        now = [0.0]
        state = AgentState(node_name="n1")
        writes = StateDirWrites(state=state, clock=lambda: now[0])
        written: list[str] = []
        full = [True]

        def save(value: str) -> None:
            if full[0]:
                raise OSError(errno.ENOSPC, "No space left on device", CKPT + ".tmp")
            written.append(value)

        assert writes.write(CKPT, lambda: save("old")) is False
        assert writes.write(CKPT, lambda: save("new")) is False
        assert list(state.node_warnings) == [("StateDirUnwritable", f"{CKPT}: {FULL}")]
        cond = state_dir_condition(state.state_dir)
        assert cond is not None
        assert cond.status == "True"
        writes.retry_due()  # not due yet (the second failure pushed it to 2 s)
        assert written == []
        full[0], now[0] = False, 5.0
        writes.retry_due()
        assert written == ["new"]
        cond = state_dir_condition(state.state_dir)
        assert cond is not None
        assert cond.status == "False"

    def test_describe_os_error_names_the_errno(self) -> None:
        """The errno's text and its symbolic name, as the condition and event show them."""
        assert describe_os_error(OSError(errno.EROFS, "Read-only file system")) == READ_ONLY
