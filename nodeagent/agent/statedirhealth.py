"""PURE whether the agent can write its state dir: each write's result in, the StateDirUnwritable
condition, when to retry and what to announce out.

`judge_write(previous, result, now)` folds one write's result (the checkpoint, the node
credential, the object cache) into the health; `state_dir_condition(health)` is the Node
condition. A failure streak is announced once (one log line, one Warning event), and again
only when the error changes (a full disk turned read-only); the streak ends, with one line,
when no write is failing any more. Failed writes are retried at `retry_at` (1 s doubling to
RETRY_MAX). The I/O (running the writes, the retries, logging) is statedirwrites.py's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # conditions.py (and fractions with it) loads with the server reporter only
    from nodeagent.agent.conditions import ConditionValue

CONDITION = "StateDirUnwritable"  # also the Warning event's reason
FAILED_REASON = "StateDirWriteFailed"
WRITABLE_REASON = "StateDirWritable"
RETRY_FIRST = 1.0
RETRY_MAX = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    """One write of a file in the state dir: `error` None when it was written."""

    path: str
    error: str | None = None  # "No space left on device (ENOSPC)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """A file whose latest write failed: with what, since when, how often, when to retry."""

    error: str
    since: float
    attempts: int
    retry_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StateDirHealth:
    """The files whose latest write failed, and the current streak: since when, and each
    (file, error) seen in it; `recovered` keeps the last streak's errors once every write
    succeeded again (the False condition's message)."""

    failing: Mapping[str, Failure] = field(default_factory=dict)
    streak_since: float | None = None
    streak: tuple[tuple[str, str], ...] = ()
    recovered: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    health: StateDirHealth
    announce: str | None = None  # a new failure streak (or a new error): "<path>: <error>"
    recovered_after: float | None = None  # the streak ended after that many seconds


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 1, 2, 4, 8, 10, 10, ..."""
    return min(RETRY_MAX, RETRY_FIRST * float(2 ** max(0, attempts - 1)))


def _describe(pairs: Iterable[tuple[str, str]]) -> str:
    return "; ".join(f"{path}: {error}" for path, error in sorted(pairs))


def judge_write(previous: StateDirHealth, result: WriteResult, now: float) -> Verdict:
    """The health after `result`, what to announce, whether a streak just ended."""
    failing = dict(previous.failing)
    if result.error is None:
        if result.path not in failing:
            return Verdict(health=previous)
        del failing[result.path]
        if failing:  # another file still cannot be written
            return Verdict(health=replace(previous, failing=failing))
        since = previous.streak_since if previous.streak_since is not None else now
        health = StateDirHealth(recovered=_describe(previous.streak))
        return Verdict(health=health, recovered_after=now - since)
    before = failing.get(result.path)
    attempts = before.attempts + 1 if before is not None else 1
    failing[result.path] = Failure(
        error=result.error,
        since=before.since if before is not None else now,
        attempts=attempts,
        retry_at=now + retry_delay(attempts),
    )
    pair = (result.path, result.error)
    known = {error for _, error in previous.streak}
    health = replace(
        previous,
        failing=failing,
        streak_since=previous.streak_since if previous.streak_since is not None else now,
        streak=previous.streak if pair in previous.streak else (*previous.streak, pair),
    )
    announce = f"{result.path}: {result.error}" if result.error not in known else None
    return Verdict(health=health, announce=announce)


def due(health: StateDirHealth, now: float) -> tuple[str, ...]:
    """The failed files whose retry time has come, in name order."""
    return tuple(sorted(p for p, f in health.failing.items() if f.retry_at <= now))


def next_retry(health: StateDirHealth) -> float | None:
    """When the earliest retry falls due; None when nothing is failing."""
    return min((f.retry_at for f in health.failing.values()), default=None)


def _errors(failing: Mapping[str, Failure]) -> list[tuple[str, str]]:
    return [(path, failure.error) for path, failure in failing.items()]


def state_dir_condition(health: StateDirHealth) -> ConditionValue | None:
    """StateDirUnwritable: True while a write in the state dir fails (naming the files and
    errors), False once they all succeeded again; absent while no write has failed since the
    agent started (as CheckpointCorrupt)."""
    from nodeagent.agent.conditions import ConditionValue  # lazily: see the import above

    if health.failing:
        return ConditionValue(
            type=CONDITION,
            status="True",
            reason=FAILED_REASON,
            message=f"cannot write the state dir: {_describe(_errors(health.failing))}",
        )
    if health.recovered is not None:
        return ConditionValue(
            type=CONDITION,
            status="False",
            reason=WRITABLE_REASON,
            message=f"the state dir is written again; it failed with: {health.recovered}",
        )
    return None
