"""PURE retry of a pod whose sync failed: kubelet's pod worker backOffPeriod, with jitter.

kubelet's pod workers requeue a pod whose SyncPod returned an error after
`wait.Jitter(backOffPeriod, 0.5)`: 10 s plus up to half as much again, flat (not doubled; the
doubling back-offs are the container ones, backoff.py). Until then the plan leaves the pod
alone and shows why, unless the pod's spec changes (another spec hash), it is deleted, or a
ConfigMap/Secret arrives (`forget_all`, as for RETRY_REASONS). The jitter draw is a parameter
(0 <= jitter < 1): the shell owns the random source, as it owns the clock.

This covers failures of the pod as a whole: a sandbox that cannot be created, an error the
executor did not expect (an OSError preparing a hostPath). A container's failed start has its
own per-container back-off (plan.py, START_KEY_PREFIX).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BACKOFF_PERIOD = 10.0  # kubelet: backOffPeriod
JITTER_FACTOR = 0.5  # kubelet: workerBackOffPeriodJitterFactor
# the waiting reason shown while a failed sync waits, unless the failure names its own
# (a sandbox's engine error); kubelet shows a container it has not created as ContainerCreating
DEFAULT_REASON = "ContainerCreating"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncFailure:
    """The last failed sync of one pod."""

    spec_hash: str  # the spec that failed: another spec is tried at once
    failed_at: float
    retry_at: float
    reason: str  # the waiting reason its containers show until the retry
    message: str
    containers: tuple[str, ...]  # the containers whose status shows the reason


SyncFailures = Mapping[str, SyncFailure]  # by pod uid


def record_failure(
    failures: SyncFailures,
    uid: str,
    *,
    spec_hash: str,
    now: float,
    jitter: float,
    reason: str,
    message: str,
    containers: tuple[str, ...],
) -> dict[str, SyncFailure]:
    """New state after pod `uid`'s sync failed at `now`: retried BACKOFF_PERIOD later, plus
    `jitter` (0..1) times JITTER_FACTOR of it, so pods failing together do not retry in step."""
    retry_at = now + BACKOFF_PERIOD * (1.0 + JITTER_FACTOR * min(max(jitter, 0.0), 1.0))
    failure = SyncFailure(
        spec_hash=spec_hash,
        failed_at=now,
        retry_at=retry_at,
        reason=reason or DEFAULT_REASON,
        message=message,
        containers=containers,
    )
    return {**failures, uid: failure}


def holding(failures: SyncFailures, uid: str, *, spec_hash: str, now: float) -> SyncFailure | None:
    """The failure that keeps pod `uid` (of `spec_hash`) waiting at `now`, else None: none
    recorded, its retry time has come, or the spec it failed with is not the pod's any more."""
    failure = failures.get(uid)
    if failure is None or failure.spec_hash != spec_hash or now >= failure.retry_at:
        return None
    return failure


def forget(failures: SyncFailures, uid: str) -> dict[str, SyncFailure]:
    """A sync of `uid` succeeded: nothing to hold it for."""
    return {k: v for k, v in failures.items() if k != uid}


def forget_gone(failures: SyncFailures, live_uids: set[str]) -> dict[str, SyncFailure]:
    """Drop the failures of pods no longer known."""
    return {k: v for k, v in failures.items() if k in live_uids}
