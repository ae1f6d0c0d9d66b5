"""Resource quantities (`200Mi`, `100m`, `1.5Gi`, `1e3`) parsed exactly, and int-or-percent
values scaled against a total (intstr.GetScaledValueFromIntOrPercent). Pure."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fractions import Fraction

QUANTITY_REGEX = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)")

# Suffix -> multiplier as (numerator, denominator), as resource.Quantity reads them (binary SI,
# decimal SI). Plain integers: `fractions` (which imports `decimal`, 0.4 MiB resident) is
# imported only where a quantity is parsed, so an agent whose pods name no resources skips it.
SUFFIXES: dict[str, tuple[int, int]] = {
    "": (1, 1),
    "Ki": (2**10, 1),
    "Mi": (2**20, 1),
    "Gi": (2**30, 1),
    "Ti": (2**40, 1),
    "Pi": (2**50, 1),
    "Ei": (2**60, 1),
    "n": (1, 10**9),
    "u": (1, 10**6),
    "m": (1, 10**3),
    "k": (10**3, 1),
    "M": (10**6, 1),
    "G": (10**9, 1),
    "T": (10**12, 1),
    "P": (10**15, 1),
    "E": (10**18, 1),
}


def _bad(value: object) -> ValueError:
    return ValueError(f"quantities must match the regular expression '{QUANTITY_REGEX}': {value!r}")


def parse_quantity(s: str | int | float) -> Fraction:
    """The exact value of a quantity; ValueError (naming the input) when it is not one."""
    from fractions import Fraction  # here, not at the top: see SUFFIXES

    if isinstance(s, bool):
        raise _bad(s)
    if isinstance(s, int):
        return Fraction(s)
    if isinstance(s, float):
        if s != s or s in (float("inf"), float("-inf")):
            raise _bad(s)
        return Fraction(str(s))
    if not isinstance(s, str):
        raise _bad(s)
    text = s.strip()
    number = _NUMBER.match(text)
    if not text or number is None:
        raise _bad(s)
    suffix = text[number.end() :]
    value = Fraction(number.group(0))
    if suffix in SUFFIXES:
        numerator, denominator = SUFFIXES[suffix]
        return value * numerator / denominator
    exponent = _EXPONENT.fullmatch(suffix)
    if exponent is None or len(exponent.group(1).lstrip("+-")) > 4:
        raise _bad(s)
    return value * Fraction(10) ** int(exponent.group(1))


def is_percent(value: object) -> bool:
    return isinstance(value, str) and value.endswith("%")


def int_or_percent_value(value: int | str) -> tuple[int, bool]:
    """(number, is_percent) of an IntOrString; ValueError as intstr words it."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value {value!r}: neither int nor percentage")
    if isinstance(value, int):
        return value, False
    if not isinstance(value, str):
        raise ValueError(f"invalid type: neither int nor percentage: {value!r}")
    if not value.endswith("%"):
        raise ValueError(f"invalid value {value!r}: string is not a percentage")
    digits = value[:-1]
    if not re.fullmatch(r"[+-]?[0-9]+", digits):
        raise ValueError(f"invalid value {value!r}: not an integer percentage")
    return int(digits), True


def scaled_int_or_percent(value: int | str, total: int, *, round_up: bool) -> int:
    """An int as is; a percent of total, rounded up or down (exact integer arithmetic)."""
    number, percent = int_or_percent_value(value)
    if not percent:
        return number
    scaled = number * total
    return -(-scaled // 100) if round_up else scaled // 100
