"""PURE probe state machine: when a probe is due, and what its result is after each try.

As kubelet's prober: results change only after successThreshold / failureThreshold consecutive
tries; a liveness probe counts as passing and a readiness probe as failing until proven; the
startup probe gates both (they do not run until it has succeeded, and it stops after that).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace

from nodeagent.api.bodies import Obj


class ProbeKind(enum.StrEnum):
    STARTUP = "startupProbe"
    LIVENESS = "livenessProbe"
    READINESS = "readinessProbe"


# The result a probe has before it first reaches a threshold (kubelet's initial values).
INITIAL_RESULT: Mapping[ProbeKind, bool] = {
    ProbeKind.STARTUP: False,
    ProbeKind.LIVENESS: True,
    ProbeKind.READINESS: False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSpec:
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_probe(cls, probe: Obj) -> ProbeSpec:
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            success_threshold=int(probe.get("successThreshold") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeState:
    result: bool
    successes: int = 0  # consecutive
    failures: int = 0  # consecutive
    last_run: float | None = None
    message: str = ""  # the last failure's output


ProbeKey = tuple[str, ProbeKind]  # (container id, kind)
ProbeResults = Mapping[ProbeKey, ProbeState]


def initial_state(kind: ProbeKind) -> ProbeState:
    return ProbeState(result=INITIAL_RESULT[kind])


def is_due(state: ProbeState, spec: ProbeSpec, *, started_at: float, now: float) -> bool:
    """True when the probe should run now (initial delay passed and a period since the last)."""
    if now < started_at + spec.initial_delay:
        return False
    return state.last_run is None or now >= state.last_run + spec.period


def next_due(state: ProbeState, spec: ProbeSpec, *, started_at: float) -> float:
    """When the probe is due next (the time at which `is_due` turns True)."""
    first = started_at + spec.initial_delay
    return first if state.last_run is None else max(first, state.last_run + spec.period)


def record(
    state: ProbeState, spec: ProbeSpec, *, success: bool, now: float, message: str = ""
) -> ProbeState:
    """The state after one try."""
    if success:
        successes, failures = state.successes + 1, 0
        result = True if successes >= spec.success_threshold else state.result
        return replace(state, successes=successes, failures=failures, result=result, last_run=now)
    successes, failures = 0, state.failures + 1
    result = False if failures >= spec.failure_threshold else state.result
    return replace(
        state,
        successes=successes,
        failures=failures,
        result=result,
        last_run=now,
        message=message,
    )


def should_run(kind: ProbeKind, container: Obj, results: ProbeResults, container_id: str) -> bool:
    """Is this probe active: defined, and (startup) not yet passed / (others) startup passed."""
    if kind.value not in container:
        return False
    startup = results.get((container_id, ProbeKind.STARTUP))
    started = "startupProbe" not in container or (startup is not None and startup.result)
    return not started if kind is ProbeKind.STARTUP else started


def is_started(container: Obj, results: ProbeResults, container_id: str) -> bool:
    if "startupProbe" not in container:
        return True
    state = results.get((container_id, ProbeKind.STARTUP))
    return state is not None and state.result


def is_ready(container: Obj, results: ProbeResults, container_id: str) -> bool:
    """Ready: started and (no readiness probe, or it passes)."""
    if not is_started(container, results, container_id):
        return False
    if "readinessProbe" not in container:
        return True
    state = results.get((container_id, ProbeKind.READINESS))
    return state is not None and state.result


def liveness_failed(container: Obj, results: ProbeResults, container_id: str) -> bool:
    """The container must be killed: its liveness (or startup, past its threshold) failed."""
    for kind in (ProbeKind.LIVENESS, ProbeKind.STARTUP):
        state = results.get((container_id, kind))
        if kind.value in container and state is not None and not state.result:
            spec = ProbeSpec.from_probe(container[kind.value])
            if state.failures >= spec.failure_threshold:
                return True
    return False
