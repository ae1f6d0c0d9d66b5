"""Node pressure conditions from plain numbers: thresholds, transition period, Unknown, messages."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nodeagent.agent.conditions import (
    THRESHOLDS,
    ConditionValue,
    Observations,
    Observed,
    PressureState,
    Signal,
    Threshold,
    evaluate,
    parse_threshold,
    parse_thresholds,
    ready_condition,
    thresholds_met,
)

MI = 1024 * 1024
GI = 1024 * MI


def healthy() -> dict[Signal, Observed]:
    return {
        Signal.MEMORY_AVAILABLE: Observed(available=4 * GI, capacity=8 * GI),
        Signal.NODEFS_AVAILABLE: Observed(
            available=50 * GI, capacity=100 * GI, where="/var/lib/nodeagent (/dev/sda1)"
        ),
        Signal.NODEFS_INODES_FREE: Observed(
            available=900_000, capacity=1_000_000, where="/var/lib/nodeagent (/dev/sda1)"
        ),
        Signal.IMAGEFS_AVAILABLE: Observed(
            available=50 * GI, capacity=100 * GI, where="/var/lib/containers (/dev/sdb1)"
        ),
        Signal.PID_AVAILABLE: Observed(available=30_000, capacity=32_768),
    }


def by_type(values: tuple[ConditionValue, ...]) -> dict[str, ConditionValue]:
    return {v.type: v for v in values}


def run(
    observations: Observations,
    previous: PressureState,
    now: float,
    *,
    period: float = 300.0,
) -> tuple[PressureState, dict[str, ConditionValue]]:
    state, values = evaluate(
        thresholds=THRESHOLDS,
        observations=observations,
        previous=previous,
        transition_period=period,
        now=now,
    )
    return state, by_type(values)


class TestThresholdTable:
    def test_defaults_follow_the_design(self) -> None:
        """The default table is memory 100Mi, nodefs 10%, inodes 5%, imagefs 15%, pid 10%."""
        table = {t.signal: t for t in THRESHOLDS}
        assert table[Signal.MEMORY_AVAILABLE].quantity == 100 * MI
        assert table[Signal.NODEFS_AVAILABLE].percentage == Fraction(1, 10)
        assert table[Signal.NODEFS_INODES_FREE].percentage == Fraction(5, 100)
        assert table[Signal.IMAGEFS_AVAILABLE].percentage == Fraction(15, 100)
        assert table[Signal.PID_AVAILABLE].percentage == Fraction(1, 10)

    @pytest.mark.parametrize(
        ("signal", "text", "expected"),
        [
            (
                "memory.available",
                "100Mi",
                Threshold(signal=Signal.MEMORY_AVAILABLE, quantity=100 * MI),
            ),
            ("memory.available", "1G", Threshold(signal=Signal.MEMORY_AVAILABLE, quantity=10**9)),
            (
                "nodefs.available",
                "12.5%",
                Threshold(signal=Signal.NODEFS_AVAILABLE, percentage=Fraction(1, 8)),
            ),
            ("pid.available", "500", Threshold(signal=Signal.PID_AVAILABLE, quantity=500)),
        ],
        ids=["binary", "decimal", "percent", "count"],
    )
    def test_parse(self, signal: str, text: str, expected: Threshold) -> None:
        """A setting's value parses as a quantity or a percentage of capacity."""
        assert parse_threshold(signal, text) == expected

    def test_parse_unknown_signal(self) -> None:
        """An unknown signal name is an error, not a silent no-op."""
        with pytest.raises(ValueError):
            parse_thresholds({"memory.free": "1Gi"})

    def test_nothing_met_when_healthy(self) -> None:
        """A healthy host meets no threshold."""
        assert thresholds_met(THRESHOLDS, healthy()) == ()

    def test_percentage_is_of_capacity(self) -> None:
        """nodefs at 9% free meets the 10% threshold; at 11% it does not."""
        obs = healthy()
        obs[Signal.NODEFS_AVAILABLE] = Observed(available=9, capacity=100)
        assert [t.signal for t in thresholds_met(THRESHOLDS, obs)] == [Signal.NODEFS_AVAILABLE]
        obs[Signal.NODEFS_AVAILABLE] = Observed(available=11, capacity=100)
        assert thresholds_met(THRESHOLDS, obs) == ()

    def test_unmeasured_signal_is_not_met(self) -> None:
        """A signal that could not be measured never meets its threshold."""
        assert thresholds_met(THRESHOLDS, {}) == ()


class TestTransitions:
    def test_unknown_until_first_measured(self) -> None:
        """Before any measurement every pressure condition is Unknown, never a guessed False."""
        _, values = run({}, PressureState(), now=0.0)
        assert {t: v.status for t, v in values.items()} == {
            "MemoryPressure": "Unknown",
            "DiskPressure": "Unknown",
            "PIDPressure": "Unknown",
        }

    def test_only_the_measured_condition_leaves_unknown(self) -> None:
        """Measuring memory only makes MemoryPressure False; the others stay Unknown."""
        obs = {Signal.MEMORY_AVAILABLE: healthy()[Signal.MEMORY_AVAILABLE]}
        _, values = run(obs, PressureState(), now=0.0)
        assert values["MemoryPressure"].status == "False"
        assert values["MemoryPressure"].reason == "KubeletHasSufficientMemory"
        assert values["DiskPressure"].status == "Unknown"

    def test_pressure_then_transition_period_then_false(self) -> None:
        """MemoryPressure turns True at once and False only a full period after the last breach."""
        low = healthy()
        low[Signal.MEMORY_AVAILABLE] = Observed(available=50 * MI, capacity=8 * GI)
        state, values = run(healthy(), PressureState(), now=0.0, period=60)
        assert values["MemoryPressure"].status == "False"
        state, values = run(low, state, now=10.0, period=60)
        assert values["MemoryPressure"].status == "True"
        assert values["MemoryPressure"].reason == "KubeletHasInsufficientMemory"
        state, values = run(low, state, now=20.0, period=60)  # last breach at 20
        state, values = run(healthy(), state, now=79.0, period=60)
        assert values["MemoryPressure"].status == "True"
        state, values = run(healthy(), state, now=80.0, period=60)
        assert values["MemoryPressure"].status == "False"
        assert values["DiskPressure"].status == "False"

    def test_a_new_breach_restarts_the_period(self) -> None:
        """A breach during the transition period keeps the condition True for another period."""
        low = healthy()
        low[Signal.PID_AVAILABLE] = Observed(available=100, capacity=32_768)
        state, _ = run(low, PressureState(), now=0.0, period=5)
        state, _ = run(healthy(), state, now=4.0, period=5)
        state, _ = run(low, state, now=4.5, period=5)
        state, values = run(healthy(), state, now=9.0, period=5)
        assert values["PIDPressure"].status == "True"
        _, values = run(healthy(), state, now=9.5, period=5)
        assert values["PIDPressure"].status == "False"

    def test_any_disk_signal_raises_disk_pressure(self) -> None:
        """nodefs bytes, nodefs inodes and imagefs each map to DiskPressure."""
        for signal in (
            Signal.NODEFS_AVAILABLE,
            Signal.NODEFS_INODES_FREE,
            Signal.IMAGEFS_AVAILABLE,
        ):
            obs = healthy()
            obs[signal] = Observed(available=1, capacity=1000, where="/x (/dev/y)")
            _, values = run(obs, PressureState(), now=0.0)
            assert values["DiskPressure"].status == "True", signal
            assert values["MemoryPressure"].status == "False"


class TestMessages:
    def test_disk_message_names_signal_mount_and_figure(self) -> None:
        """The message says which signal, on which mount, at what figure, against what limit."""
        obs = healthy()
        obs[Signal.NODEFS_AVAILABLE] = Observed(
            available=42, capacity=1000, where="/var/lib/nodeagent (/dev/sda1)"
        )
        _, values = run(obs, PressureState(), now=0.0)
        assert values["DiskPressure"].message == (
            "nodefs.available on /var/lib/nodeagent (/dev/sda1) is 4.2% (< 10%)"
        )

    def test_memory_message_in_binary_units(self) -> None:
        """Memory figures are shown in Mi/Gi as the threshold was written."""
        obs = healthy()
        obs[Signal.MEMORY_AVAILABLE] = Observed(available=95 * MI, capacity=8 * GI)
        _, values = run(obs, PressureState(), now=0.0)
        assert values["MemoryPressure"].message == "memory.available is 95Mi (< 100Mi)"

    def test_message_kept_during_transition(self) -> None:
        """While clearing, the condition keeps the message of its last breach."""
        obs = healthy()
        obs[Signal.PID_AVAILABLE] = Observed(available=1000, capacity=32_768)
        state, first = run(obs, PressureState(), now=0.0)
        _, later = run(healthy(), state, now=1.0)
        assert later["PIDPressure"].message == first["PIDPressure"].message
        assert first["PIDPressure"].message == "pid.available is 3.1% (< 10%)"


class TestReady:
    def test_ready_when_runtime_answers(self) -> None:
        """Ready is True with kubelet's reason while the engine answers."""
        cond = ready_condition(runtime_error=None)
        assert (cond.status, cond.reason, cond.message) == (
            "True",
            "KubeletReady",
            "nodeagent is posting ready status",
        )

    def test_not_ready_names_the_runtime_error(self) -> None:
        """Ready is False naming the engine's error when it does not answer."""
        cond = ready_condition(runtime_error="no engine at /run/podman/podman.sock")
        assert cond.status == "False"
        assert cond.reason == "KubeletNotReady"
        assert cond.message == "container runtime is down: no engine at /run/podman/podman.sock"

    def test_runtime_error_not_prefixed_twice(self) -> None:
        """An error already worded "container runtime is down: ..." is used as it is."""
        cond = ready_condition(runtime_error="container runtime is down: refused")
        assert cond.message == "container runtime is down: refused"

    def test_not_checked_yet_is_not_called_down(self) -> None:
        """Before the engine was first asked, Ready is False saying just that."""
        cond = ready_condition(runtime_error="container runtime not checked yet")
        assert (cond.status, cond.message) == ("False", "container runtime not checked yet")
