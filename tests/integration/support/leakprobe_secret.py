"""Probe for test_parallel_suite.py (not collected by the suite: no test_ prefix): a secret
known only to the worker that runs this module, printed, and written to a file that only
the other module registers as a log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import leaks

PROBE = os.environ.get("NODEAGENT_LEAK_PROBE", "")
SECRET = "probe-secret-0123456789abcdef"


@pytest.mark.skipif(not PROBE, reason="run by test_parallel_suite.py only")
def test_writes_a_secret() -> None:
    leaks.remember_secret(SECRET, "a probe secret")
    print(f"captured {SECRET}")
    (Path(PROBE) / "other.log").write_text(f"logged {SECRET}\n")
