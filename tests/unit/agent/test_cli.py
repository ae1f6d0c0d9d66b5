"""`nodeagent agent` refuses bad flags and config with every error named, before starting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nodeagent.agent.settings import load_settings


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


def test_reserved_node_labels_are_refused_as_kubelet_refuses_them(tmp_path: Path) -> None:
    """A node-role or node-restriction label (flag or file) stops the agent at start with
    kubelet's --node-labels message, instead of every registration being refused later."""
    conf = tmp_path / "agent.yaml"
    conf.write_text("labels:\n  node-restriction.kubernetes.io/pci: 'true'\n  team: db\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nodeagent",
            "agent",
            "--config",
            str(conf),
            "--label",
            "node-role.kubernetes.io/worker=",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    unknown = "unknown 'kubernetes.io' or 'k8s.io' labels: "
    assert f"nodeagent agent: --label: {unknown}[node-role.kubernetes.io/worker]" in result.stderr
    flag = next(line for line in lines if line.startswith("nodeagent agent: --label:"))
    assert "must begin with an allowed prefix (kubelet.kubernetes.io, node.kubernetes.io)" in flag
    assert (
        f"nodeagent agent: {conf}: labels: {unknown}[node-restriction.kubernetes.io/pci]"
        in result.stderr
    )


def test_kubelets_own_labels_are_accepted() -> None:
    """The labels kubelet sets on itself, and labels outside kubernetes.io, load."""
    labels = [
        "topology.kubernetes.io/zone=z1",
        "node.kubernetes.io/instance-type=m5",
        "kubelet.kubernetes.io/x=1",
        "example.com/team=db",
    ]
    settings = load_settings(overrides={"labels": labels})
    assert settings.labels["topology.kubernetes.io/zone"] == "z1"
    assert len(settings.labels) == 4
