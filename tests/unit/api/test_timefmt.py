"""Times as the API writes them and ages as kubectl shows them."""

from __future__ import annotations

import pytest

from nodeagent.api.timefmt import format_age, format_time, parse_time


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        pytest.param(-5, "<invalid>", id="future-beyond-skew"),
        pytest.param(-0.5, "0s", id="small-skew"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(5.9, "5s", id="truncates"),
        pytest.param(119, "119s", id="under-two-minutes"),
        pytest.param(120, "2m", id="two-minutes"),
        pytest.param(303, "5m3s", id="seed-001-age"),
        pytest.param(336, "5m36s", id="seed-001-pod-age"),
        pytest.param(600, "10m", id="ten-minutes"),
        pytest.param(3 * 3600 - 1, "179m", id="under-three-hours"),
        pytest.param(3 * 3600, "3h", id="three-hours"),
        pytest.param(5 * 3600 + 120, "5h2m", id="hours-and-minutes"),
        pytest.param(23 * 3600 + 59, "23h", id="under-two-days"),
        pytest.param(50 * 3600, "2d2h", id="days-and-hours"),
        pytest.param(14 * 86400 + 3600, "14d", id="two-weeks"),
        pytest.param(3 * 365 * 86400 + 86400 * 4, "3y4d", id="years-and-days"),
        pytest.param(9 * 365 * 86400, "9y", id="many-years"),
    ],
)
def test_format_age_is_human_duration(seconds: float, shown: str) -> None:
    """Ages render exactly as apimachinery's duration.HumanDuration."""
    assert format_age(seconds) == shown


def test_format_time_is_rfc3339_utc_whole_seconds() -> None:
    """Times are UTC with a Z and no fraction."""
    assert format_time(1795420800.75) == "2026-11-23T08:00:00Z"


@pytest.mark.parametrize(
    ("text", "ts"),
    [
        pytest.param("2026-11-23T08:00:00Z", 1795420800.0, id="zulu"),
        pytest.param("2026-11-23T09:00:00+01:00", 1795420800.0, id="offset"),
        pytest.param("2026-11-23T08:00:00.500000Z", 1795420800.5, id="fraction"),
    ],
)
def test_parse_time_reads_rfc3339(text: str, ts: float) -> None:
    """RFC 3339 with Z, offsets and fractions parse to Unix seconds."""
    assert parse_time(text) == ts


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-23", "2026-11-23T08:00:00"])
def test_parse_time_rejects_non_rfc3339(text: str) -> None:
    """Anything but a zoned RFC 3339 time is a ValueError."""
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time(text)


def test_format_then_parse_round_trips() -> None:
    """parse_time(format_time(t)) gives t back for whole seconds."""
    assert parse_time(format_time(1_800_000_000)) == 1_800_000_000
