"""`nodeagent agent` as a process keeps its imports small: `rich` (5.5 MiB) is never loaded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.wait import wait_until

from .conftest import free_port

# Runs the real command line, and at exit writes which modules the process had loaded.
WRAPPER = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "nodeagent"
runpy.run_module("nodeagent", run_name="__main__", alter_sys=True)
"""


def test_running_agent_never_imports_rich(tmp_path: Path) -> None:
    """An agent that served HTTP and tried its engine (so its runtime code is loaded) has not
    imported rich, although rich is installed here; its logs are still JSON lines."""
    modules_file, log_file = tmp_path / "modules.json", tmp_path / "agent.log"
    argv = [sys.executable, "-c", WRAPPER, str(modules_file), "agent"]
    argv += ["--node-name", "imports-test", "--manifest-dir", str(tmp_path / "manifests")]
    argv += ["--state-dir", str(tmp_path / "state"), "--listen", f"127.0.0.1:{free_port()}"]
    argv += ["--runtime-socket", str(tmp_path / "no-engine.sock")]
    with log_file.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(
                lambda: "runtime_unavailable" in log_file.read_text(),
                timeout=30,
                message="the agent tried its engine",
            )
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    loaded = json.loads(modules_file.read_text())
    assert "nodeagent.runtime.docker" in loaded  # the wrapper saw a fully started agent
    assert "structlog" in loaded
    assert [m for m in loaded if m == "rich" or m.startswith("rich.")] == []
    first = json.loads(log_file.read_text().splitlines()[0])
    assert first["event"] == "agent_starting"
