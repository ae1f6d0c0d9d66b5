"""`nodeagent agent` refuses bad flags and config with every error named, before starting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_bad_flags_and_config_are_all_reported(tmp_path: Path) -> None:
    """Exit 2 and one line per problem naming the flag or the file and key."""
    conf = tmp_path / "agent.yaml"
    conf.write_text("listen: nowhere\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nodeagent",
            "agent",
            "--config",
            str(conf),
            "--taint",
            "x=y:Never",
            "--label",
            "bad label=1",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"nodeagent agent: {conf}: listen:") for line in lines)
    assert any(line.startswith("nodeagent agent: --taint:") for line in lines)
    assert any(line.startswith("nodeagent agent: --label:") for line in lines)
