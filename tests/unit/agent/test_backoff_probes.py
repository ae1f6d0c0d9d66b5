"""CrashLoopBackOff arithmetic and the probe state machine, driven by plain numbers."""

from __future__ import annotations

from nodeagent.agent import backoff, probes
from nodeagent.agent.probes import ProbeKind, ProbeSpec, ProbeState

KEY = ("uid", "app")


def test_backoff_doubles_from_10s_up_to_300s() -> None:
    """Each restart doubles the delay: 10, 20, 40, ... capped at 300."""
    state: backoff.BackoffState = {}
    delays = []
    for i in range(8):
        state = backoff.record_restart(state, KEY, now=100.0 + i)
        delays.append(state[KEY].delay)
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]


def test_backoff_remaining_counts_from_the_finish() -> None:
    """The wait is measured from when the container finished."""
    state = backoff.record_restart({}, KEY, now=100.0)
    assert backoff.remaining(state, KEY, since=105.0, now=108.0) == 7.0
    assert backoff.remaining(state, KEY, since=105.0, now=116.0) == 0.0
    assert backoff.remaining({}, KEY, since=105.0, now=106.0) == 0.0


def test_backoff_resets_after_ten_minutes() -> None:
    """An entry untouched for 10 minutes starts over at 10 s."""
    state = backoff.record_restart({}, KEY, now=0.0)
    state = backoff.record_restart(state, KEY, now=1.0)
    assert state[KEY].delay == 20
    state = backoff.record_restart(state, KEY, now=700.0)
    assert state[KEY].delay == 10


SPEC = ProbeSpec(initial_delay=5, period=10, failure_threshold=3, success_threshold=2)


def test_probe_is_due_after_initial_delay_then_every_period() -> None:
    """initialDelaySeconds from the container start, then periodSeconds between tries."""
    s = probes.initial_state(ProbeKind.READINESS)
    assert not probes.is_due(s, SPEC, started_at=100, now=104)
    assert probes.is_due(s, SPEC, started_at=100, now=105)
    s = probes.record(s, SPEC, success=True, now=105)
    assert not probes.is_due(s, SPEC, started_at=100, now=114)
    assert probes.is_due(s, SPEC, started_at=100, now=115)


def test_results_change_only_at_thresholds() -> None:
    """successThreshold and failureThreshold consecutive results flip the result."""
    s = probes.initial_state(ProbeKind.READINESS)
    assert s.result is False
    s = probes.record(s, SPEC, success=True, now=1)
    assert s.result is False
    s = probes.record(s, SPEC, success=True, now=2)
    assert s.result is True
    for t in (3, 4):
        s = probes.record(s, SPEC, success=False, now=t, message="boom")
        assert s.result is True
    s = probes.record(s, SPEC, success=False, now=5, message="boom")
    assert s.result is False
    assert s.failures == 3
    assert s.message == "boom"


def test_liveness_passes_until_proven_failing() -> None:
    """A liveness probe counts as passing before its first result (kubelet's initial value)."""
    c = {"name": "app", "livenessProbe": {"exec": {"command": ["true"]}}}
    assert not probes.liveness_failed(c, {}, "id")
    failing = {("id", ProbeKind.LIVENESS): ProbeState(result=False, failures=3)}
    assert probes.liveness_failed(c, failing, "id")


def test_startup_probe_gates_liveness_and_readiness() -> None:
    """Until the startup probe passes only it runs; the container is neither started nor ready."""
    c = {
        "name": "app",
        "startupProbe": {"exec": {"command": ["true"]}},
        "livenessProbe": {"exec": {"command": ["true"]}},
    }
    assert probes.should_run(ProbeKind.STARTUP, c, {}, "id")
    assert not probes.should_run(ProbeKind.LIVENESS, c, {}, "id")
    assert not probes.is_started(c, {}, "id")
    assert not probes.is_ready(c, {}, "id")
    started = {("id", ProbeKind.STARTUP): ProbeState(result=True, successes=1)}
    assert not probes.should_run(ProbeKind.STARTUP, c, started, "id")
    assert probes.should_run(ProbeKind.LIVENESS, c, started, "id")
    assert not probes.should_run(ProbeKind.READINESS, c, started, "id")  # none defined
    assert probes.is_ready(c, started, "id")


def test_startup_probe_failing_its_threshold_kills() -> None:
    """A startup probe that fails failureThreshold times means a restart, as in kubelet."""
    c = {"name": "app", "startupProbe": {"exec": {"command": ["false"]}, "failureThreshold": 2}}
    one = {("id", ProbeKind.STARTUP): ProbeState(result=False, failures=1)}
    two = {("id", ProbeKind.STARTUP): ProbeState(result=False, failures=2)}
    assert not probes.liveness_failed(c, one, "id")
    assert probes.liveness_failed(c, two, "id")
