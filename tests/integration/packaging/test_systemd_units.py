"""The systemd units: `systemd-analyze verify` accepts them; they keep the promises documented."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UNITS = ("nodeagent.service", "nodeagent-server.service", "nodeagent-all-in-one.service")
INSTALLED_BINARY = "/opt/nodeagent/venv/bin/nodeagent"


def _service_section(unit: str) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "systemd" / unit)
    return dict(parser["Service"])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    """`systemd-analyze verify` reports no problem in any unit (ExecStart pointed at the venv)."""
    venv_binary = str(Path(sys.executable).parent / "nodeagent")
    for unit in UNITS:
        text = (ROOT / "systemd" / unit).read_text()
        assert INSTALLED_BINARY in text
        (tmp_path / unit).write_text(text.replace(INSTALLED_BINARY, venv_binary))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / u) for u in UNITS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line
    ]
    assert result.returncode == 0, result.stderr
    assert complaints == []


def test_every_unit_notifies_is_watched_and_always_restarts() -> None:
    """Type=notify with a watchdog and Restart=always, so a hung or dead process comes back."""
    for unit in UNITS:
        service = _service_section(unit)
        assert service["Type"] == "notify", unit
        assert int(service["WatchdogSec"]) > 0, unit
        assert service["Restart"] == "always", unit


def test_stopping_an_agent_leaves_the_daemon_containers() -> None:
    """Units that run an agent kill only their main process: containers and conmon survive."""
    assert _service_section("nodeagent.service")["KillMode"] == "process"
    assert _service_section("nodeagent-all-in-one.service")["KillMode"] == "process"


def test_agent_hardening_keeps_the_hosts_view() -> None:
    """No agent option creates a mount namespace: hostPath dirs must be the host's own."""
    mount_namespace_options = (
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "PrivateMounts",
        "RootDirectory",
    )
    for unit in ("nodeagent.service", "nodeagent-all-in-one.service"):
        service = _service_section(unit)
        assert [o for o in mount_namespace_options if o in service] == [], unit
    assert _service_section("nodeagent-server.service")["ProtectSystem"] == "strict"
