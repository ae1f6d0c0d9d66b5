"""Every benchmark runs once at its smallest size and prints every figure (so none rots)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import SIZES

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(SIZES))
def test_benchmark_smoke_run_prints_its_figures(name: str) -> None:
    """`python -m bench --smoke NAME` exits 0 and prints a table row and a JSON line per figure."""
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    lines = [json.loads(line[6:]) for line in out if line.startswith("BENCH ")]
    assert lines, result.stdout
    for figure in lines:
        assert figure["n"] > 0
        assert figure["median"] >= 0
        assert figure["figure"] in result.stdout.split("BENCH ")[0]
