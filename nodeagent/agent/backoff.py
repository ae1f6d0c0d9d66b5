"""PURE CrashLoopBackOff and ImagePullBackOff: 10 s doubling to 300 s, reset after 10 min.

As kubelet's flowcontrol.Backoff: the first restart of a container is immediate; each further
restart waits `delay` after the container finished, the delay doubling up to the cap; an entry
untouched for `reset_after` (the container ran that long) starts again at the initial delay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BackoffKey = tuple[str, str]  # (pod uid, container name) or (pod uid, "pull:" + container name)


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    initial: float = 10.0
    cap: float = 300.0
    reset_after: float = 600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffEntry:
    delay: float
    last_update: float  # when the last restart was recorded
    reason: str = ""  # why a start failed (ErrImagePull ...); "" for a crash restart
    message: str = ""


BackoffState = Mapping[BackoffKey, BackoffEntry]
DEFAULT_POLICY = BackoffPolicy()


def remaining(
    state: BackoffState,
    key: BackoffKey,
    *,
    since: float,
    now: float,
    policy: BackoffPolicy = DEFAULT_POLICY,
) -> float:
    """Seconds still to wait before the next restart of `key` (0 when it may go now).

    `since` is when the container finished (or the pull failed)."""
    entry = state.get(key)
    if entry is None or now - entry.last_update > policy.reset_after:
        return 0.0
    return max(0.0, since + entry.delay - now)


def record_restart(
    state: BackoffState,
    key: BackoffKey,
    *,
    now: float,
    reason: str = "",
    message: str = "",
    policy: BackoffPolicy = DEFAULT_POLICY,
) -> dict[BackoffKey, BackoffEntry]:
    """A new state after a restart of `key` at `now`: the delay starts or doubles."""
    entry = state.get(key)
    if entry is None or now - entry.last_update > policy.reset_after:
        delay = policy.initial
    else:
        delay = min(entry.delay * 2, policy.cap)
    return {
        **state,
        key: BackoffEntry(delay=delay, last_update=now, reason=reason, message=message),
    }


def forget(state: BackoffState, key: BackoffKey) -> dict[BackoffKey, BackoffEntry]:
    return {k: v for k, v in state.items() if k != key}


def forget_pods(state: BackoffState, live_uids: set[str]) -> dict[BackoffKey, BackoffEntry]:
    """Drop the entries of pods that are gone."""
    return {k: v for k, v in state.items() if k[0] in live_uids}
