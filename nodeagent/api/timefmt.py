"""Time as the Kubernetes API writes it (RFC 3339, UTC, whole seconds) and as kubectl shows
ages (apimachinery's duration.HumanDuration). Pure."""

from __future__ import annotations

import datetime as _dt
import math


def format_time(ts: float) -> str:
    """Unix seconds -> `2026-11-23T12:00:00Z` (metav1.Time keeps whole seconds)."""
    moment = _dt.datetime.fromtimestamp(math.floor(ts), tz=_dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> float:
    """RFC 3339 (`Z` or an offset, optional fraction) -> Unix seconds. ValueError if not."""
    if not isinstance(s, str) or "T" not in s.upper():
        raise ValueError(f"not an RFC 3339 time: {s!r}")
    text = s.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 time: {s!r}") from exc
    if moment.tzinfo is None:
        raise ValueError(f"not an RFC 3339 time (no zone): {s!r}")
    return moment.timestamp()


def format_age(seconds: float) -> str:
    """A duration as kubectl's AGE column shows it (duration.HumanDuration)."""
    whole = math.trunc(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        s = whole % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"
