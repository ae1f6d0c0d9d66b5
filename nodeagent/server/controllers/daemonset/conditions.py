"""PURE: the DaemonSet's status.conditions, shaped as a Deployment's (deploymentutil).

Kubernetes writes no conditions on DaemonSets (kubernetes/enhancements#2804); these follow the
Deployment controller's: Progressing (True while rolling or done, False on a deadline or a
halt, Unknown while paused or just resumed) with `lastUpdateTime` as the time of the last
progress, and Available (minimum availability: numberAvailable >= desired - maxUnavailable).
RolledBack says why the controller wrote an older template back (auto-revert).
`next_progressing` is the Progressing half of syncRolloutStatus, given guard.py's view.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time, parse_time
from nodeagent.server.controllers.daemonset.strategy import unavailable_count

PROGRESSING = "Progressing"
AVAILABLE = "Available"
ROLLED_BACK = "RolledBack"

ROLLING = "NewRevisionRolling"
AVAILABLE_REASON = "NewRevisionAvailable"
UNREACHABLE_REASON = "WaitingForUnreachableNodes"
DEADLINE = "ProgressDeadlineExceeded"
HALTED = "RolloutHalted"
PAUSED = "DaemonSetPaused"
RESUMED = "DaemonSetResumed"
PAUSED_MESSAGE = "DaemonSet is paused (annotation rollout.nodeagent.io/paused)."
RESUMED_MESSAGE = "DaemonSet is resumed."

MINIMUM_AVAILABLE = "MinimumPodsAvailable"
MINIMUM_UNAVAILABLE = "MinimumPodsUnavailable"
REVERTED = "RevisionUnhealthy"

PROGRESS_COUNTS = ("updatedNumberScheduled", "numberReady", "numberAvailable")


def progressing(status: str, reason: str, message: str, stamp: str) -> Obj:
    return {
        "type": PROGRESSING,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": stamp,
    }


def counts_progressed(old: Obj, new: Obj) -> bool:
    """More nodes updated, ready or available than the stored status says
    (deploymentutil.DeploymentProgressing, in DaemonSet counts)."""
    return any(int(new.get(k) or 0) > int(old.get(k) or 0) for k in PROGRESS_COUNTS)


def available(ds: Obj, counts: Obj) -> Obj:
    desired = int(counts.get("desiredNumberScheduled") or 0)
    have = int(counts.get("numberAvailable") or 0)
    if have >= desired - unavailable_count(ds, desired):
        return {
            "type": AVAILABLE,
            "status": "True",
            "reason": MINIMUM_AVAILABLE,
            "message": "DaemonSet has minimum availability.",
        }
    return {
        "type": AVAILABLE,
        "status": "False",
        "reason": MINIMUM_UNAVAILABLE,
        "message": "DaemonSet does not have minimum availability.",
    }


def rolled_back(message: str) -> Obj:
    return {"type": ROLLED_BACK, "status": "True", "reason": REVERTED, "message": message}


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """What the Progressing condition is computed from."""

    what: str
    node_total: int
    halted_why: str | None
    pending_reachable: bool
    pending_unreachable: list[str]
    rolling_message: str
    deadline: int | None  # None: no deadline applies now (OnDelete, canaries soaking)


def next_progressing(
    old: Obj | None, state: Progress, *, paused: bool, progressed: bool, now: float
) -> Obj:
    """syncRolloutStatus: paused, complete, halted, waiting only for unreachable nodes,
    progressing, timed out, or unchanged; lastUpdateTime moves on progress or a new reason."""
    stamp = format_time(now)
    old_reason = str((old or {}).get("reason") or "")
    if paused:
        new = progressing("Unknown", PAUSED, PAUSED_MESSAGE, stamp)
    elif old_reason == PAUSED:
        new = progressing("Unknown", RESUMED, RESUMED_MESSAGE, stamp)
    elif not state.pending_reachable and not state.pending_unreachable:
        message = f"{state.what} is available on all {state.node_total} nodes."
        new = progressing("True", AVAILABLE_REASON, message, stamp)
    elif state.halted_why is not None:
        message = f"Rollout halted: {state.halted_why}"
        new = progressing("False", HALTED, message, stamp)
    elif not state.pending_reachable:
        nodes = state.pending_unreachable
        message = (
            f"{state.what} is available on every reachable node; unreachable "
            f"{', '.join(nodes)} will be updated when "
            f"{'it returns' if len(nodes) == 1 else 'they return'}."
        )
        new = progressing("True", UNREACHABLE_REASON, message, stamp)
    elif old is None or progressed or old_reason in RESTARTS_THE_CLOCK:
        new = progressing("True", ROLLING, state.rolling_message, stamp)
    elif (
        state.deadline is not None
        and old_reason in (ROLLING, RESUMED)
        and last_update(old, now) + state.deadline < now
    ):
        message = f"{state.what} has made no progress for {state.deadline} s."
        new = progressing("False", DEADLINE, message, stamp)
    else:
        new = dict(old)
        if old_reason == ROLLING:
            new["message"] = state.rolling_message
    if old is not None and new.get("reason") == old_reason and not progressed:
        new["lastUpdateTime"] = old.get("lastUpdateTime", stamp)
    return new


# A rollout that starts again after these counts its deadline from now.
RESTARTS_THE_CLOCK = (HALTED, UNREACHABLE_REASON)


def last_update(condition: Obj | None, now: float) -> float:
    if condition is None:
        return now
    try:
        return parse_time(str(condition.get("lastUpdateTime") or ""))
    except ValueError:
        return now


def rolling_message(
    what: str, *, canary_wait: str | None, metric_hold: str | None, waiting_unreachable: bool
) -> str:
    message = f"RollingUpdate of {what} in progress"
    if canary_wait:
        message += f"; canary phase: {canary_wait}"
    if metric_hold:
        message += f"; held by the {metric_hold}"
    if waiting_unreachable:
        message += "; waiting for unreachable nodes to return (policy halt)"
    return message + "."
