"""PURE: what becomes of a container that has exited: restart it now, wait, or leave it.

kubelet's rule (computePodActions with the pod's restartPolicy, and its CrashLoopBackOff):
`Always` restarts any exit, `OnFailure` a non-zero one, `Never` none; a restart waits out the
container's back-off (backoff.py: 10 s doubling to 300 s, counted from when it finished). The
plan (plan.py) asks here for every dead container and turns a restart into a start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nodeagent.agent import backoff
from nodeagent.agent.actions import Waiting
from nodeagent.api.bodies import Obj
from nodeagent.runtime.protocol import ContainerInfo

# restartPolicy -> should an exited container with this exit code run again. Rules as data.
RESTART_RULES: Mapping[str, Callable[[int], bool]] = {
    "Always": lambda code: True,
    "OnFailure": lambda code: code != 0,
    "Never": lambda code: False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartNow:
    """Run the container again, as this attempt."""

    attempt: int


def restart_dead(
    *, pod: Obj, uid: str, container: ContainerInfo, restarts: backoff.BackoffState, now: float
) -> RestartNow | Waiting | None:
    """A dead container: restart it now, wait out its back-off, or leave it (None)."""
    policy = pod.get("spec", {}).get("restartPolicy", "Always")
    if not RESTART_RULES.get(policy, RESTART_RULES["Always"])(container.exit_code or 0):
        return None
    name = container.container_name
    key = (uid, name)
    since = container.finished_at if container.finished_at is not None else now
    wait = backoff.remaining(restarts, key, since=since, now=now)
    if wait <= 0:
        return RestartNow(attempt=container.attempt + 1)
    meta = pod["metadata"]
    message = (
        f"back-off {restarts[key].delay:.0f}s restarting failed container={name} "
        f"pod={meta['name']}_{meta.get('namespace', 'default')}({uid})"
    )
    return Waiting(
        pod_uid=uid,
        container_name=name,
        reason="CrashLoopBackOff",
        message=message,
        recheck_at=now + wait,
    )
