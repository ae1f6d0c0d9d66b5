"""Probe for test_parallel_suite.py (not collected by the suite: no test_ prefix): registers
the log file the other probe module writes its secret into."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import leaks

PROBE = os.environ.get("NODEAGENT_LEAK_PROBE", "")


@pytest.mark.skipif(not PROBE, reason="run by test_parallel_suite.py only")
def test_registers_a_log() -> None:
    leaks.remember_log(Path(PROBE) / "other.log")
