"""The actions a reconcile plan asks for: values only, performed by executor.py.

Each action names the pod (uid) it belongs to; the executor runs one pod's actions in order and
different pods' actions in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nodeagent.api.bodies import Obj


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSandbox:
    """Create and start the container holding the pod's network namespace."""

    pod_uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartContainer:
    """Pull the image (per its pull policy), create and start one container attempt."""

    pod_uid: str
    container_name: str
    attempt: int
    is_init: bool = False
    restart: bool = False  # a restart of a dead container: counts for CrashLoopBackOff


@dataclass(frozen=True, slots=True, kw_only=True)
class StopContainers:
    """SIGTERM the containers (in parallel), SIGKILL after grace_seconds."""

    pod_uid: str
    container_ids: tuple[str, ...]
    grace_seconds: int
    reason: str  # "Deleted", "SpecChanged", "Unhealthy", "Orphaned", "SandboxChanged"


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveContainers:
    pod_uid: str
    container_ids: tuple[str, ...]
    pod_gone: bool = False  # the last removal of the pod: its volumes may go too


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """Nothing to do yet for a container; tells the status why (CrashLoopBackOff ...).

    `recheck_at` (the plan's clock) is when planning again gives another answer: the back-off
    ends, or the reason shown turns from the failure to the back-off word."""

    pod_uid: str
    container_name: str
    reason: str
    message: str = ""
    details: Obj = field(default_factory=dict)
    recheck_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PullImages:
    """Make a new pod's images present (per each container's pull policy) before the pod it
    replaces is stopped (handover.py); a failure backs off as a failed start does."""

    pod_uid: str
    spec_hash: str  # the pulls count for this spec only


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepRunning:
    """A deleting pod's containers keep running while the pod that replaces it is not ready to
    start (its images are not present yet, or it has not appeared yet): nothing to do now."""

    pod_uid: str
    successor_uid: str | None  # the new pod, once there is one
    recheck_at: float | None = None  # when to stop waiting for a successor


Action = (
    CreateSandbox
    | StartContainer
    | StopContainers
    | RemoveContainers
    | Waiting
    | PullImages
    | KeepRunning
)
