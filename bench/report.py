"""How every benchmark reports: a table of min/median/p99/max and one JSON line per figure.

A figure is always printed next to its baseline measured in the same run, because absolute
times on shared machines are not stable; the ratio is what runs can be compared on.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    name: str  # e.g. "plan.1000_pods"
    unit: str  # "ms", "MiB", "%"
    samples: tuple[float, ...]
    baseline_name: str = ""
    baseline: tuple[float, ...] = ()
    target: str = ""  # what the project aims for, in words (never asserted)

    @staticmethod
    def summary(samples: Sequence[float]) -> dict[str, float]:
        ordered = sorted(samples)
        if not ordered:
            return {}
        p99_index = min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))
        return {
            "min": ordered[0],
            "median": statistics.median(ordered),
            "p99": ordered[p99_index],
            "max": ordered[-1],
        }

    def as_json(self) -> str:
        body: dict[str, object] = {
            "figure": self.name,
            "unit": self.unit,
            "n": len(self.samples),
            **self.summary(self.samples),
        }
        if self.baseline:
            body["baseline"] = {"name": self.baseline_name, **self.summary(self.baseline)}
            base = statistics.median(self.baseline)
            if base:
                body["ratio_median"] = round(statistics.median(self.samples) / base, 3)
        if self.target:
            body["target"] = self.target
        return json.dumps(body, sort_keys=True)


def _row(name: str, unit: str, samples: Sequence[float]) -> str:
    s = Figure.summary(samples)
    if not s:
        return f"{name:<44} {unit:>4} {'(no samples)':>12}"
    cells = " ".join(f"{s[k]:>10.3f}" for k in ("min", "median", "p99", "max"))
    return f"{name:<44} {unit:>4} {len(samples):>5} {cells}"


def print_figures(figures: Sequence[Figure], *, out: TextIO | None = None) -> None:
    """Print the table, then one JSON line per figure (prefixed `BENCH `) for comparisons."""
    stream = out if out is not None else sys.stdout
    header = f"{'figure':<44} {'unit':>4} {'n':>5} " + " ".join(
        f"{h:>10}" for h in ("min", "median", "p99", "max")
    )
    print(header, file=stream)
    for f in figures:
        print(_row(f.name, f.unit, f.samples), file=stream)
        if f.baseline:
            print(_row(f"  baseline: {f.baseline_name}", f.unit, f.baseline), file=stream)
    for f in figures:
        print("BENCH " + f.as_json(), file=stream)
