"""PURE: the DaemonSet update strategy as numbers (daemon/util SurgeCount, UnavailableCount)."""

from __future__ import annotations

from nodeagent.api.bodies import Obj
from nodeagent.api.quantity import scaled_int_or_percent


def strategy_type(ds: Obj) -> str:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    return str(strategy.get("type") or "RollingUpdate")


def _rolling(ds: Obj) -> Obj | None:
    if strategy_type(ds) != "RollingUpdate":
        return None
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    rolling: Obj = strategy.get("rollingUpdate") or {}
    return rolling


def surge_count(ds: Obj, desired: int) -> int:
    """maxSurge scaled to desired (percent rounded up); 0 when not rolling or unset."""
    rolling = _rolling(ds)
    if rolling is None or rolling.get("maxSurge") is None:
        return 0
    return scaled_int_or_percent(rolling["maxSurge"], desired, round_up=True)


def unavailable_count(ds: Obj, desired: int) -> int:
    """maxUnavailable scaled to desired (percent rounded up, default 1); 0 when not rolling."""
    rolling = _rolling(ds)
    if rolling is None:
        return 0
    value = rolling.get("maxUnavailable", 1)
    if value is None:
        return 0
    return scaled_int_or_percent(value, desired, round_up=True)


def allows_surge(ds: Obj) -> bool:
    return surge_count(ds, 1) != 0
