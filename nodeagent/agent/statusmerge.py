"""PURE: the pod status the agent writes, from its own status and the server's copy: kubelet's
mergePodStatus (conditions others added are kept) and its readiness gates on `Ready`."""

from __future__ import annotations

from collections.abc import Sequence

from nodeagent.agent.podstatus import CONDITION_TYPES
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time

GATES_NOT_READY = "ReadinessGatesNotReady"  # kubelet's status.ReadinessGatesNotReady
OWNED_TYPES = frozenset(CONDITION_TYPES)  # kubelet's PodConditionByKubelet


def is_owned(condition: Obj) -> bool:
    """A condition the agent sets (everything else belongs to whoever added it)."""
    return condition.get("type") in OWNED_TYPES


def owned_status(status: Obj) -> Obj:
    """`status` without the conditions the agent does not own: what it compares with what it
    sent, so a change another client makes to its own condition costs no write."""
    if "conditions" not in status:
        return status
    return {**status, "conditions": [c for c in status["conditions"] if is_owned(c)]}


def pod_gates(pod: Obj) -> list[Obj]:
    """The pod's `spec.readinessGates` ([] when it has none)."""
    return list((pod.get("spec") or {}).get("readinessGates") or [])


def _find(conditions: Sequence[Obj], ctype: str) -> Obj | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


def gate_messages(gates: Sequence[Obj], conditions: Sequence[Obj]) -> list[str]:
    """One message per readiness gate that is not met, in the gates' order (kubelet's
    GeneratePodReadyCondition words); [] when all are met."""
    messages = []
    for gate in gates:
        ctype = str(gate.get("conditionType", ""))
        found = _find(conditions, ctype)
        if found is None:
            messages.append(
                f'corresponding condition of pod readiness gate "{ctype}" does not exist.'
            )
        elif (status := found.get("status")) != "True":
            messages.append(
                f'the status of pod readiness gate "{ctype}" is not "True", but {status}'
            )
    return messages


def gated_ready(
    ready: Obj,
    gates: Sequence[Obj],
    conditions: Sequence[Obj],
    server_ready: Obj | None,
    now: float,
) -> Obj:
    """The `Ready` condition once the readiness gates are applied to the agent's own `ready`.

    Not ready for its own reasons (containers): `ready` as it is. Otherwise True only when every
    gate's condition in `conditions` is "True", else False with ReadinessGatesNotReady and the
    gates' messages joined with ", ". ContainersReady is not touched. lastTransitionTime is the
    server's when its Ready has the same status (it did not change), else `now`.
    """
    if not gates:
        return ready
    containers_ready = ready.get("status") == "True" or ready.get("reason") == GATES_NOT_READY
    if not containers_ready:
        return ready
    messages = gate_messages(gates, conditions)
    status = "False" if messages else "True"
    result = {k: v for k, v in ready.items() if k not in ("reason", "message")}
    result["status"] = status
    same = server_ready is not None and server_ready.get("status") == status
    since = server_ready.get("lastTransitionTime") if server_ready is not None and same else None
    result["lastTransitionTime"] = since or format_time(now)
    if messages:
        result.update(reason=GATES_NOT_READY, message=", ".join(messages))
    return result


def merged_status(
    server_status: Obj | None, ours: Obj, readiness_gates: Sequence[Obj], *, now: float
) -> Obj:
    """The status to write: `ours` whose conditions are the server's conditions the agent does not
    own (in the server's order), then the agent's own (ours' order, any foreign ones in `ours`
    dropped), with the readiness gates applied to Ready; as kubelet's mergePodStatus orders them.

    Without foreign conditions and gates, this equals `ours`. Merging what it returned
    again, against a newer server copy, gives the status for that copy (a retry after a 409).
    """
    server_conditions = list((server_status or {}).get("conditions") or [])
    foreign = [c for c in server_conditions if not is_owned(c)]
    if not foreign and "conditions" not in ours:
        return ours
    own = [c for c in ours.get("conditions") or [] if is_owned(c)]
    ready = _find(own, "Ready")
    if ready is not None and readiness_gates:
        server_ready = _find(server_conditions, "Ready")
        new_ready = gated_ready(ready, readiness_gates, foreign + own, server_ready, now)
        own = [new_ready if c is ready else c for c in own]
    return {**ours, "conditions": foreign + own}
