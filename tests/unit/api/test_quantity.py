"""Quantities parse exactly; int-or-percent values scale like intstr."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nodeagent.api.quantity import parse_quantity, scaled_int_or_percent


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("200Mi", Fraction(200 * 2**20), id="mebibytes"),
        pytest.param("100m", Fraction(1, 10), id="millicores"),
        pytest.param("1.5Gi", Fraction(3 * 2**29), id="fractional-gibibytes"),
        pytest.param("1", Fraction(1), id="plain"),
        pytest.param("0.1", Fraction(1, 10), id="decimal-exact"),
        pytest.param("1e3", Fraction(1000), id="exponent"),
        pytest.param("1E-3", Fraction(1, 1000), id="negative-exponent"),
        pytest.param("2k", Fraction(2000), id="kilo"),
        pytest.param("1Ki", Fraction(1024), id="kibi"),
        pytest.param("1E", Fraction(10**18), id="exa-not-exponent"),
        pytest.param("5n", Fraction(5, 10**9), id="nano"),
        pytest.param("7u", Fraction(7, 10**6), id="micro"),
        pytest.param("-1", Fraction(-1), id="negative"),
        pytest.param(".5", Fraction(1, 2), id="leading-dot"),
        pytest.param(3, Fraction(3), id="int"),
        pytest.param(0.25, Fraction(1, 4), id="float"),
    ],
)
def test_parse_quantity_is_exact(text: str | int | float, value: Fraction) -> None:
    """Every suffix of resource.Quantity is read to an exact Fraction."""
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "Mi", "1Xi", "1.2.3", "1 Mi", "abc", "1e", "--1", "1mm", True, None]
)
def test_parse_quantity_rejects_garbage(text: object) -> None:
    """A non-quantity is a ValueError naming the regular expression and the input."""
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        pytest.param(1, 10, True, 1, id="int-as-is"),
        pytest.param("10%", 15, True, 2, id="percent-round-up"),
        pytest.param("10%", 15, False, 1, id="percent-round-down"),
        pytest.param("100%", 3, False, 3, id="all"),
        pytest.param("0%", 7, True, 0, id="none"),
        pytest.param("33%", 100, True, 33, id="exact"),
    ],
)
def test_scaled_int_or_percent(value: int | str, total: int, round_up: bool, expected: int) -> None:
    """Percentages of total are rounded as asked; ints are returned unchanged."""
    assert scaled_int_or_percent(value, total, round_up=round_up) == expected


@pytest.mark.parametrize("value", ["10", "x%", "1.5%", ""])
def test_scaled_int_or_percent_rejects_non_percent_strings(value: str) -> None:
    """A string that is not an integer percentage is a ValueError."""
    with pytest.raises(ValueError, match="invalid"):
        scaled_int_or_percent(value, 10, round_up=True)
