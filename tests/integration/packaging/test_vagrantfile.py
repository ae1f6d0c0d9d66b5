"""The Vagrantfile: `vagrant validate` accepts it for any node count (no VM is started)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant not installed")


def _validate(tmp_path: Path, nodes: str) -> subprocess.CompletedProcess[str]:
    """`vagrant validate --ignore-provider`: a machine with vagrant but no provider plugin
    (Debian's vagrant only recommends vagrant-libvirt) can still check the Vagrantfile."""
    shutil.copy(ROOT / "Vagrantfile", tmp_path / "Vagrantfile")
    env = {**os.environ, "NODEAGENT_NODES": nodes, "VAGRANT_HOME": str(tmp_path / "home")}
    return subprocess.run(
        ["vagrant", "validate", "--ignore-provider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_vagrant_validate_passes_with_three_nodes(tmp_path: Path) -> None:
    """A server and NODEAGENT_NODES=3 nodes make a valid Vagrantfile."""
    result = _validate(tmp_path, "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_vagrant_refuses_a_bad_node_count(tmp_path: Path) -> None:
    """NODEAGENT_NODES=0 is refused with a message naming the variable."""
    result = _validate(tmp_path, "0")
    assert result.returncode != 0
    assert "NODEAGENT_NODES" in result.stdout + result.stderr


def test_every_node_is_provisioned_with_the_install_script() -> None:
    """Server and nodes run scripts/install.sh with their role; nodes get the server's token."""
    text = (ROOT / "Vagrantfile").read_text()
    assert "install.sh --role server" in text
    assert "install.sh --role agent" in text
    assert "--token-file" in text
