"""PURE: the DaemonSet's status.conditions, shaped as a Deployment's (deploymentutil).

Kubernetes writes no conditions on DaemonSets (kubernetes/enhancements#2804); these follow the
Deployment controller's: Progressing (True while rolling or done, False on a deadline or a
halt, Unknown while paused or just resumed) with `lastUpdateTime` as the time of the last
progress, and Available (minimum availability: numberAvailable >= desired - maxUnavailable).
RolledBack says why the controller wrote an older template back (auto-revert).
"""

from __future__ import annotations

from nodeagent.api.bodies import Obj
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
