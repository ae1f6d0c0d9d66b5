"""PURE node pressure conditions, kubelet-eviction style: thresholds as data, time as `now`.

Owns the signals, the THRESHOLDS table, the signal -> condition map, the first/last-observed
bookkeeping with the pressure transition period, and the Ready condition. No I/O: stats.py
measures, nodestatus.py turns these values into the Node's status.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from nodeagent.api.bodies import Obj
from nodeagent.api.quantity import parse_quantity


class Signal(enum.StrEnum):
    MEMORY_AVAILABLE = "memory.available"
    NODEFS_AVAILABLE = "nodefs.available"
    NODEFS_INODES_FREE = "nodefs.inodesFree"
    IMAGEFS_AVAILABLE = "imagefs.available"
    PID_AVAILABLE = "pid.available"


class ConditionType(enum.StrEnum):
    MEMORY_PRESSURE = "MemoryPressure"
    DISK_PRESSURE = "DiskPressure"
    PID_PRESSURE = "PIDPressure"
    READY = "Ready"


class Unit(enum.StrEnum):
    BYTES = "bytes"
    COUNT = "count"


# kubelet's signalToNodeCondition.
SIGNAL_TO_CONDITION: Mapping[Signal, ConditionType] = {
    Signal.MEMORY_AVAILABLE: ConditionType.MEMORY_PRESSURE,
    Signal.NODEFS_AVAILABLE: ConditionType.DISK_PRESSURE,
    Signal.NODEFS_INODES_FREE: ConditionType.DISK_PRESSURE,
    Signal.IMAGEFS_AVAILABLE: ConditionType.DISK_PRESSURE,
    Signal.PID_AVAILABLE: ConditionType.PID_PRESSURE,
}
SIGNAL_UNIT: Mapping[Signal, Unit] = {
    Signal.MEMORY_AVAILABLE: Unit.BYTES,
    Signal.NODEFS_AVAILABLE: Unit.BYTES,
    Signal.NODEFS_INODES_FREE: Unit.COUNT,
    Signal.IMAGEFS_AVAILABLE: Unit.BYTES,
    Signal.PID_AVAILABLE: Unit.COUNT,
}
PRESSURE_CONDITIONS: tuple[ConditionType, ...] = (
    ConditionType.MEMORY_PRESSURE,
    ConditionType.DISK_PRESSURE,
    ConditionType.PID_PRESSURE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wording:
    """The reason and message of a pressure condition, as kubelet words them."""

    ok_reason: str
    ok_message: str
    pressure_reason: str


WORDING: Mapping[ConditionType, Wording] = {
    ConditionType.MEMORY_PRESSURE: Wording(
        ok_reason="KubeletHasSufficientMemory",
        ok_message="nodeagent has sufficient memory available",
        pressure_reason="KubeletHasInsufficientMemory",
    ),
    ConditionType.DISK_PRESSURE: Wording(
        ok_reason="KubeletHasNoDiskPressure",
        ok_message="nodeagent has no disk pressure",
        pressure_reason="KubeletHasDiskPressure",
    ),
    ConditionType.PID_PRESSURE: Wording(
        ok_reason="KubeletHasSufficientPID",
        ok_message="nodeagent has sufficient PID available",
        pressure_reason="KubeletHasInsufficientPID",
    ),
}
UNKNOWN_REASON = "NodeStatusNeverUpdated"
UNKNOWN_MESSAGE = "nodeagent has not measured this signal yet"
READY_REASON = "KubeletReady"
READY_MESSAGE = "nodeagent is posting ready status"
NOT_READY_REASON = "KubeletNotReady"
RUNTIME_DOWN = "container runtime is down: "


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """`signal < value`: value is an absolute quantity or a fraction of the signal's capacity."""

    signal: Signal
    quantity: int | None = None
    percentage: Fraction | None = None  # 0.1 for "10%"

    def limit(self, capacity: int) -> Fraction:
        if self.quantity is not None:
            return Fraction(self.quantity)
        return (self.percentage or Fraction(0)) * capacity

    def describe(self) -> str:
        if self.percentage is not None:
            return _percent(self.percentage)
        return _figure(SIGNAL_UNIT[self.signal], self.quantity or 0)


# The defaults of DESIGN.md (kubelet's evictionHard defaults plus pid.available 10%).
THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(signal=Signal.MEMORY_AVAILABLE, quantity=100 * 1024 * 1024),
    Threshold(signal=Signal.NODEFS_AVAILABLE, percentage=Fraction(10, 100)),
    Threshold(signal=Signal.NODEFS_INODES_FREE, percentage=Fraction(5, 100)),
    Threshold(signal=Signal.IMAGEFS_AVAILABLE, percentage=Fraction(15, 100)),
    Threshold(signal=Signal.PID_AVAILABLE, percentage=Fraction(10, 100)),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """One signal as measured: what is available out of what there is, and where."""

    available: int
    capacity: int
    where: str = ""  # "/var/lib/nodeagent (/dev/sda1)" for filesystem signals


Observations = Mapping[Signal, Observed]  # a signal that could not be measured is absent


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionValue:
    """A condition's status, reason and message; times are added by nodestatus.py."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PressureState:
    """What evaluate() remembers between calls (kubelet's *ObservedAt maps)."""

    first_observed: Mapping[Signal, float] = field(default_factory=dict)  # threshold met since
    last_observed: Mapping[ConditionType, float] = field(default_factory=dict)  # last time met
    last_message: Mapping[ConditionType, str] = field(default_factory=dict)
    measured: frozenset[ConditionType] = frozenset()


def parse_threshold(signal: str, value: str) -> Threshold:
    """`("nodefs.available", "10%")` or `("memory.available", "100Mi")` -> Threshold."""
    sig = Signal(signal)
    text = value.strip()
    if text.endswith("%"):
        return Threshold(signal=sig, percentage=Fraction(text[:-1]) / 100)
    return Threshold(signal=sig, quantity=int(parse_quantity(text)))


def parse_thresholds(table: Mapping[str, str]) -> tuple[Threshold, ...]:
    """The agent's evictionHard setting (signal -> "100Mi" | "10%") as Thresholds."""
    return tuple(parse_threshold(signal, value) for signal, value in table.items())


def thresholds_met(
    thresholds: Sequence[Threshold], observations: Observations
) -> tuple[Threshold, ...]:
    """The thresholds whose signal was measured and is below its limit."""
    met = []
    for threshold in thresholds:
        seen = observations.get(threshold.signal)
        if seen is not None and seen.available < threshold.limit(seen.capacity):
            met.append(threshold)
    return tuple(met)


def pressure_message(threshold: Threshold, seen: Observed) -> str:
    """E.g. "nodefs.available on /var/lib/nodeagent (/dev/sda1) is 4.2% (< 10%)"."""
    where = f" on {seen.where}" if seen.where else ""
    if threshold.percentage is not None:
        share = Fraction(seen.available, seen.capacity) if seen.capacity else Fraction(0)
        figure = _percent(share)
    else:
        figure = _figure(SIGNAL_UNIT[threshold.signal], seen.available)
    return f"{threshold.signal}{where} is {figure} (< {threshold.describe()})"


def evaluate(
    *,
    thresholds: Sequence[Threshold],
    observations: Observations,
    previous: PressureState,
    transition_period: float,
    now: float,
) -> tuple[PressureState, tuple[ConditionValue, ...]]:
    """The pressure conditions now, and the state to pass next time.

    A condition is True while one of its thresholds was met within the last
    `transition_period` seconds, Unknown until one of its signals has been measured.
    """
    met = thresholds_met(thresholds, observations)
    met_signals = {t.signal for t in met}
    first = {s: previous.first_observed.get(s, now) for s in met_signals}
    last = dict(previous.last_observed)
    messages = dict(previous.last_message)
    for threshold in met:
        condition = SIGNAL_TO_CONDITION[threshold.signal]
        if last.get(condition) != now:  # the first threshold met names the condition
            messages[condition] = pressure_message(threshold, observations[threshold.signal])
        last[condition] = now
    measured = previous.measured | {SIGNAL_TO_CONDITION[s] for s in observations}
    values = []
    for condition in PRESSURE_CONDITIONS:
        wording = WORDING[condition]
        seen_at = last.get(condition)
        if seen_at is not None and now - seen_at < transition_period:
            values.append(
                ConditionValue(
                    type=condition,
                    status="True",
                    reason=wording.pressure_reason,
                    message=messages.get(condition, ""),
                )
            )
        elif condition in measured:
            values.append(
                ConditionValue(
                    type=condition,
                    status="False",
                    reason=wording.ok_reason,
                    message=wording.ok_message,
                )
            )
        else:
            values.append(
                ConditionValue(
                    type=condition, status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE
                )
            )
    state = PressureState(
        first_observed=first, last_observed=last, last_message=messages, measured=measured
    )
    return state, tuple(values)


def ready_condition(
    *, runtime_error: str | None, checked: bool = True, previous: Obj | None = None
) -> ConditionValue:
    """Ready True while the container engine answers, else False naming the error.

    Before the first runtime check (`checked` False: an agent that just started) the Ready
    condition of `previous` (the Node's status as the server has it) is kept as it was, so a
    restart sends no Ready flap and records no NodeNotReady/NodeReady; a new Node gets False.
    """
    if not checked:
        for cond in (previous or {}).get("conditions") or []:
            if cond.get("type") == ConditionType.READY and cond.get("status") in ("True", "False"):
                return ConditionValue(
                    type=ConditionType.READY,
                    status=str(cond["status"]),
                    reason=str(cond.get("reason") or ""),
                    message=str(cond.get("message") or ""),
                )
    if runtime_error is None:
        return ConditionValue(
            type=ConditionType.READY, status="True", reason=READY_REASON, message=READY_MESSAGE
        )
    return ConditionValue(
        type=ConditionType.READY,
        status="False",
        reason=NOT_READY_REASON,
        message=(
            runtime_error
            if runtime_error.startswith("container runtime ")  # already says what is wrong
            else f"{RUNTIME_DOWN}{runtime_error}"
        ),
    )


CHECKPOINT_CONDITION = "CheckpointCorrupt"


def checkpoint_condition(*, corrupt: str | None, rewritten: str | None) -> ConditionValue | None:
    """CheckpointCorrupt: True while the checkpoint found corrupt at boot keeps the server's
    pods from starting (`corrupt` says why), False once they were checkpointed again
    (`rewritten` keeps why it had been corrupt); absent when no corruption was seen since the
    agent started (node-problem-detector style)."""
    if corrupt is not None:
        return ConditionValue(
            type=CHECKPOINT_CONDITION, status="True", reason="CheckpointCorrupt", message=corrupt
        )
    if rewritten is not None:
        return ConditionValue(
            type=CHECKPOINT_CONDITION,
            status="False",
            reason="CheckpointRewritten",
            message=f"checkpointed again from the server; at boot: {rewritten}",
        )
    return None


_BINARY_UNITS: tuple[tuple[str, int], ...] = (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20))


def _figure(unit: Unit, value: int) -> str:
    if unit is Unit.COUNT:
        return str(value)
    for suffix, size in _BINARY_UNITS:
        if abs(value) >= size:
            number = Fraction(value, size)
            text = str(int(number)) if number.denominator == 1 else f"{float(number):.1f}"
            return f"{text}{suffix}"
    return f"{value}"


def _percent(share: Fraction) -> str:
    value = share * 100
    return f"{int(value)}%" if value.denominator == 1 else f"{float(value):.1f}%"
