"""scripts/install.sh on this machine, into temp dirs: package, podman drop-in, image, agent config.

The script honours NODEAGENT_* variables that move every path it writes; systemctl is only called
when systemd runs, which it does not here, so nothing outside the temp dirs changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from nodeagent.agent.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="podman not installed")


@dataclass(frozen=True, kw_only=True)
class Install:
    base: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(ROOT / "scripts" / "install.sh"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
        )

    def podman(self, *args: str, conf: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = self.env if conf is None else {**self.env, "CONTAINERS_CONF": str(conf)}
        return subprocess.run(
            [*self.env["NODEAGENT_PODMAN"].split(), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )


def path_without_kubectl(shadow: Path) -> str:
    """$PATH as it is, but where a directory holds a kubectl, a stand-in of symlinks to all its
    other entries: the script then meets a host with no kubectl, as a fresh Debian is."""
    dirs = []
    for i, entry in enumerate(os.environ["PATH"].split(os.pathsep)):
        d = Path(entry)
        if not (d / "kubectl").exists():
            dirs.append(entry)
            continue
        stand_in = shadow / str(i)
        stand_in.mkdir(parents=True)
        for item in d.iterdir():
            if item.name != "kubectl":
                (stand_in / item.name).symlink_to(item)
        dirs.append(str(stand_in))
    return os.pathsep.join(dirs)


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    """A sandbox for the script, installed once with no arguments (the README's first step), on
    a PATH with no kubectl."""
    base = tmp_path_factory.mktemp("install")
    (base / "containers.conf").write_text(
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
    )
    run = Path(tempfile.mkdtemp(prefix="install-pm-"))  # podman's runroot: 50 characters at most
    podman = f"podman --root {base}/pm/root --runroot {run} --storage-driver vfs"
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(base / "containers.conf"),
        "NODEAGENT_PREFIX": str(base / "opt"),
        "NODEAGENT_CONFIG_DIR": str(base / "etc"),
        "NODEAGENT_UNIT_DIR": str(base / "units"),
        "NODEAGENT_CONTAINERS_DIR": str(base / "containers"),
        "NODEAGENT_DATA_DIR": str(base / "data"),
        "NODEAGENT_PODMAN": podman,
        "NODEAGENT_BIN_DIR": str(base / "bin"),
        "PATH": path_without_kubectl(base / "path"),
    }
    sandbox = Install(base=base, env=env)
    try:
        result = sandbox.run()
        assert result.returncode == 0, result.stdout + result.stderr
        yield sandbox
    finally:
        sandbox.podman("rmi", "--all", "--force")
        shutil.rmtree(base / "pm", ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)


def test_no_arguments_installs_a_working_command(install: Install) -> None:
    """With no role the package lands in PREFIX/venv and `nodeagent version` runs."""
    nodeagent = install.base / "opt" / "venv" / "bin" / "nodeagent"
    result = subprocess.run([str(nodeagent), "version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "nodeagent" in result.stdout
    assert not (install.base / "units").exists()


def test_kubectl_is_linked_onto_path_when_the_host_has_none(install: Install) -> None:
    """README's `kubectl get nodes` needs a kubectl: the venv's, linked into the bin dir."""
    link = install.base / "bin" / "kubectl"
    assert link.is_symlink()
    assert os.readlink(link) == str(install.base / "opt" / "venv" / "bin" / "kubectl")
    result = subprocess.run([str(link), "version", "--client"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Client Version: v1.37." in result.stdout


def test_a_kubectl_already_there_is_never_replaced(install: Install, tmp_path: Path) -> None:
    """A kubectl on PATH, or a file where the link would go, is left as it is."""
    own = tmp_path / "own-bin"
    own.mkdir()
    (own / "kubectl").write_text("#!/bin/sh\necho the host's own\n")
    (own / "kubectl").chmod(0o755)
    bin_dir = tmp_path / "bin"
    env = {**install.env, "NODEAGENT_BIN_DIR": str(bin_dir)}
    on_path = Install(base=install.base, env={**env, "PATH": f"{own}:{env['PATH']}"}).run()
    assert on_path.returncode == 0, on_path.stderr
    assert f"kubectl: {own}/kubectl (already on PATH; left as it is)" in on_path.stdout
    assert not bin_dir.exists()
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text("someone else's\n")
    in_place = Install(base=install.base, env=env).run()
    assert in_place.returncode == 0, in_place.stderr
    assert (bin_dir / "kubectl").read_text() == "someone else's\n"


def test_podman_drop_in_suits_a_host_without_systemd(install: Install) -> None:
    """runc always; cgroupfs and file events when systemd is not PID 1 (as here)."""
    conf = (install.base / "containers" / "containers.conf.d" / "50-nodeagent.conf").read_text()
    assert 'runtime = "runc"' in conf
    assert 'cgroup_manager = "cgroupfs"' in conf


def test_the_examples_image_is_imported(install: Install) -> None:
    """localhost/busybox:1, which manifests/ uses, runs under the script's podman settings."""
    drop_in = install.base / "containers" / "containers.conf.d" / "50-nodeagent.conf"
    result = install.podman("run", "--rm", "localhost/busybox:1", "echo", "hello", conf=drop_in)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello"


AGENT_ARGS = (
    "--role", "agent", "--server", "https://10.213.0.1:6443", "--node-name", "node-a",
    "--label", "zone=a", "--label", "disk=ssd", "--taint", "dedicated=infra:NoSchedule",
)  # fmt: skip


@pytest.fixture(scope="module")
def agent_config(install: Install) -> str:
    """The agent.yaml written by one `--role agent` run."""
    token = install.base / "join-secret"
    token.write_text("s3cret\n")
    result = install.run(*AGENT_ARGS, "--token-file", str(token))
    assert result.returncode == 0, result.stdout + result.stderr
    return (install.base / "etc" / "agent.yaml").read_text()


def test_agent_role_writes_a_config_the_agent_accepts(install: Install, agent_config: str) -> None:
    """--role agent writes agent.yaml and the unit; the agent's own loader accepts the file."""
    settings = load_settings(config_file=str(install.base / "etc" / "agent.yaml"))
    assert settings.node_name == "node-a"
    assert settings.server_url == "https://10.213.0.1:6443"
    assert dict(settings.labels) == {"zone": "a", "disk": "ssd"}
    assert settings.taints == ({"key": "dedicated", "value": "infra", "effect": "NoSchedule"},)
    assert settings.join_secret() == "s3cret"
    assert yaml.safe_load(agent_config)["tokenFile"] == f"{install.base}/etc/node-token"
    unit = (install.base / "units" / "nodeagent.service").read_text()
    assert f"{install.base}/opt/venv/bin/nodeagent agent" in unit


def test_running_again_changes_nothing(install: Install, agent_config: str) -> None:
    """A second run with the same role succeeds and leaves the same config."""
    result = install.run(*AGENT_ARGS, "--token-file", str(install.base / "join-secret"))
    assert result.returncode == 0, result.stderr
    assert (install.base / "etc" / "agent.yaml").read_text() == agent_config


def test_bad_arguments_are_refused_with_a_reason(install: Install) -> None:
    """A wrong role, or an agent without its server, exits 2 and says what is missing."""
    bad_role = install.run("--role", "worker")
    assert bad_role.returncode == 2
    assert "--role must be server, agent or all-in-one" in bad_role.stderr
    no_server = install.run("--role", "agent")
    assert no_server.returncode == 2
    assert "--server" in no_server.stderr


def test_server_role_writes_its_flags_and_unit(install: Install) -> None:
    """--role server puts the listen address and each --server-arg in server.env and installs
    the server unit pointing at the installed command."""
    result = install.run(
        "--role", "server", "--listen", "0.0.0.0:7443", "--server-arg", "--tls-san=10.213.0.1"
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    env = (install.base / "etc" / "server.env").read_text()
    assert env.strip() == 'NODEAGENT_SERVER_ARGS="--listen 0.0.0.0:7443 --tls-san=10.213.0.1"'
    unit = (install.base / "units" / "nodeagent-server.service").read_text()
    assert f"{install.base}/opt/venv/bin/nodeagent server" in unit
