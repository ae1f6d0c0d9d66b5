"""The suite's guard against tokens in logs (tests/support/leaks.py) still fails a run on
pytest-xdist workers, as scripts/test.sh runs the suite: a secret that one worker's test
printed, and wrote to a file that only the other worker registered as a log, are both found,
and the run exits 1 naming the test and the file, never the secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBES = [
    "tests/integration/support/leakprobe_secret.py",
    "tests/integration/support/leakprobe_log.py",
]


@pytest.mark.timeout(120)
def test_a_leak_on_either_worker_fails_the_run(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pytest", "-n", "2", "-q",
               "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "base"), *PROBES]  # fmt: skip
    env = {**os.environ, "NODEAGENT_LEAK_PROBE": str(tmp_path)}
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=110)
    out = run.stdout + run.stderr
    assert "2 passed" in out, out
    assert run.returncode == 1, out
    assert "tokens found in logs" in out, out
    assert "leakprobe_secret.py::test_writes_a_secret (Captured stdout call): a probe secret" in out
    assert f"{tmp_path / 'other.log'}: a probe secret" in out, out
    assert "probe-secret-0123456789abcdef" not in out
