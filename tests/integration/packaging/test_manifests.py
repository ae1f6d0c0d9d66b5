"""manifests/: every example is valid for `nodeagent validate`, and the README describes each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = sorted((ROOT / "manifests").glob("*.yaml"))


def test_the_expected_examples_exist() -> None:
    """The seeds' two DaemonSets, the node-exporter-style one and a static pod are there."""
    names = {path.name for path in MANIFESTS}
    assert {
        "daemonset-example.yaml",
        "fluentd-elasticsearch.yaml",
        "node-exporter.yaml",
        "static-pod-example.yaml",
    } <= names


def test_nodeagent_validate_accepts_every_example() -> None:
    """`nodeagent validate manifests/*.yaml` exits 0 and prints no error."""
    result = subprocess.run(
        [sys.executable, "-m", "nodeagent", "validate", *map(str, MANIFESTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_node_exporter_uses_the_hosts_pid_and_network() -> None:
    """The monitoring example shares the host's PID and network namespaces."""
    ds = yaml.safe_load((ROOT / "manifests" / "node-exporter.yaml").read_text())
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec["hostPID"] is True


def test_fluentd_tolerates_the_control_plane() -> None:
    """Seed 004's example runs on the control plane: it tolerates its NoSchedule taint."""
    ds = yaml.safe_load((ROOT / "manifests" / "fluentd-elasticsearch.yaml").read_text())
    keys = {t["key"] for t in ds["spec"]["template"]["spec"]["tolerations"]}
    assert "node-role.kubernetes.io/control-plane" in keys


def test_readme_has_a_line_for_each_example() -> None:
    """manifests/README.md names every file in the directory."""
    readme = (ROOT / "manifests" / "README.md").read_text()
    missing = [path.name for path in MANIFESTS if path.name not in readme]
    assert missing == []
