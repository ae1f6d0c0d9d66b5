"""`nodeagent all-in-one` as a user runs it: server and agent in one process on this host."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from nodeagent.cli import allinone
from nodeagent.cli.allinone import containers_conf
from tests.support.podman import PodmanService, ping
from tests.support.server import free_port
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[3]
KUBECTL = str(Path(sys.executable).parent / "kubectl")

needs_podman = pytest.mark.skipif(shutil.which("podman") is None, reason="podman not installed")


@dataclass(kw_only=True)
class AllInOne:
    data_dir: Path
    process: subprocess.Popen[str]
    out: Path
    err: Path

    @property
    def kubeconfig(self) -> Path:
        """The one the banner and README name: DIR/admin.kubeconfig (a link to DIR/server's)."""
        return self.data_dir / "admin.kubeconfig"

    def kubectl(self, *args: str, input_: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(self.data_dir / "home")}
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            env=env, capture_output=True, text=True, check=False, input=input_, timeout=60,
        )  # fmt: skip

    def banner(self) -> str:
        """stdout once the banner is on it: all-in-one prints it after the agent's sources
        synced, which may come after the node is Ready (at most allinone.BANNER_WAIT later)."""
        wait_until(
            lambda: "export KUBECONFIG=" in self.out.read_text(),
            timeout=allinone.BANNER_WAIT + 15,
            message="the all-in-one banner on stdout",
        )
        return self.out.read_text()

    def stray_lines(self) -> list[str]:
        """What reached stderr besides the JSON log lines (stderr is no terminal here): Python's
        and aiohttp's warnings ("Unclosed connection"), tracebacks."""
        return [
            line
            for line in self.err.read_text().splitlines()
            if line.strip() and not line.startswith("{")
        ]

    def node_ready(self) -> bool:
        result = self.kubectl("get", "nodes", "-o", "json")
        if result.returncode != 0:
            return False
        items = json.loads(result.stdout)["items"]
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for n in items
            for c in n.get("status", {}).get("conditions", [])
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(10)


def start_all_in_one(data_dir: Path, *flags: str, merged: bool = False) -> AllInOne:
    """`merged`: stdout and stderr into one file, in the order written, as on a terminal."""
    data_dir.mkdir(parents=True, exist_ok=True)
    out = data_dir.parent / f"{data_dir.name}.out"
    err = out if merged else data_dir.parent / "aio.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "nodeagent", "all-in-one", "--data-dir", str(data_dir),
         "--listen", f"127.0.0.1:{free_port()}", "--agent-listen", f"127.0.0.1:{free_port()}",
         "--agent-serving-listen", "127.0.0.1:0",
         "--node-name", "aio", *flags],
        cwd=ROOT, stdout=out.open("w"), stderr=subprocess.STDOUT if merged else err.open("w"),
        text=True,
    )  # fmt: skip
    aio = AllInOne(data_dir=data_dir, process=process, out=out, err=err)
    try:
        wait_until(aio.node_ready, timeout=60, interval=0.3, message="the all-in-one node Ready")
    except AssertionError:
        aio.stop()
        raise AssertionError(err.read_text()[-4000:]) from None
    return aio


@needs_podman
def test_all_in_one_runs_a_daemonset_and_stops_cleanly(
    tmp_path: Path, podman_service: PodmanService, busybox: str
) -> None:
    """With an engine already answering: the node gets Ready, the seed's DaemonSet runs, the
    banner says what to try (README's lines), and SIGTERM exits 0, with no warning printed,
    leaving the daemon's container running."""
    aio = start_all_in_one(tmp_path / "data", "--runtime-socket", podman_service.socket_path)
    try:
        banner = aio.banner()
        assert f"export KUBECONFIG={aio.kubeconfig}\n" in banner
        assert "kubectl get nodes\n" in banner
        assert "apply -f" in banner
        assert "daemonset-example.yaml" in banner
        assert "kubectl get daemonset; kubectl get pods -o wide\n" in banner
        assert "(found)" in banner
        text = (ROOT / "manifests" / "daemonset-example.yaml").read_text()
        created = aio.kubectl(
            "apply", "-f", "-", input_=text.replace("localhost/busybox:1", busybox)
        )
        assert created.returncode == 0, created.stderr

        def running() -> bool:
            out = aio.kubectl("get", "pods", "-l", "name=daemonset-example", "--no-headers").stdout
            return "Running" in out and "1/1" in out

        wait_until(running, timeout=60, interval=0.3, message="the daemon pod Running")
    finally:
        code = aio.stop()
    assert code == 0
    assert aio.stray_lines() == []  # the engine's event stream was open: closed before exit
    names = podman_service.podman("ps", "--format", "{{.Names}}").stdout
    assert "daemonset-example" in names  # the agent's stop leaves the daemons running
    ids = podman_service.podman(
        "ps", "-aq", "--filter", "label=io.nodeagent.node=aio"
    ).stdout.split()
    for _ in range(3):
        if ids:
            podman_service.podman("rm", "-f", "-t", "0", *ids, check=False)
        ids = podman_service.podman(
            "ps", "-aq", "--filter", "label=io.nodeagent.node=aio"
        ).stdout.split()


@needs_podman
def test_banner_comes_after_the_start_up_log_lines(
    tmp_path: Path, podman_service: PodmanService
) -> None:
    """On one terminal (stdout and stderr together) the banner follows the agent's start-up log
    lines (engine connected, pods listed from the server), instead of being lost among them."""
    aio = start_all_in_one(
        tmp_path / "data", "--runtime-socket", podman_service.socket_path, merged=True
    )
    try:
        wait_until(
            lambda: "nodeagent all-in-one is running" in aio.out.read_text(),
            timeout=30,
            message="the banner",
        )
        lines = aio.out.read_text().splitlines()
    finally:
        assert aio.stop() == 0
    at = next(i for i, line in enumerate(lines) if line.startswith("nodeagent all-in-one is"))
    before = [json.loads(line)["event"] for line in lines[:at] if line.startswith("{")]
    assert "runtime_connected" in before
    assert "api_pods_listed" in before
    assert lines[at - 1] == lines[at + 10] == "-" * 78  # a block between two rules


@needs_podman
def test_all_in_one_starts_podman_when_no_engine_answers(tmp_path: Path) -> None:
    """No engine on the socket: all-in-one starts podman there (private storage via flags),
    the node gets Ready, and at exit that podman is stopped again, with no warning printed."""
    short = Path(tempfile.mkdtemp(prefix="aio-"))  # podman's runroot must be short
    socket = str(short / "podman.sock")
    aio = start_all_in_one(
        tmp_path / "data",
        "--runtime-socket", socket,
        "--podman-root", str(tmp_path / "podman-root"),
        "--podman-runroot", str(short / "run"),
    )  # fmt: skip
    try:
        assert "(started by nodeagent)" in aio.banner()
        assert ping(socket)
    finally:
        code = aio.stop()
        for root in (short, tmp_path / "podman-root"):
            mounts = Path("/proc/mounts").read_text().split("\n")
            for mountpoint in reversed([m.split()[1] for m in mounts if m.strip()]):
                if mountpoint.startswith(f"{root}/"):
                    subprocess.run(["umount", "-l", mountpoint], check=False)
        shutil.rmtree(short, ignore_errors=True)
    assert code == 0
    assert aio.stray_lines() == []
    assert not ping(socket)


def _readme_kubectl_lines() -> list[str]:
    """README's commands after command 1, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = text.split("Then, in another shell", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_banner_prints_readmes_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The banner's "In another shell" lines are README's, with this run's kubeconfig (README
    says the banner prints the same); only the example's path is where it is installed."""
    monkeypatch.setattr("nodeagent.cli.allinone.shutil.which", lambda _: "/usr/local/bin/kubectl")
    text = allinone.banner(
        node="n1",
        kubeconfig=Path("/var/lib/nodeagent/admin.kubeconfig"),
        manifest_dir="/etc/nodeagent/manifests",
        socket="/run/podman/podman.sock",
        started=True,
    )
    lines = text.split("In another shell:\n", 1)[1].split("\nStop with", 1)[0].splitlines()
    example = "manifests/daemonset-example.yaml"
    shown = [line.strip().replace(allinone._examples_hint(), example) for line in lines]
    assert shown == _readme_kubectl_lines()


def test_containers_conf_suits_the_host() -> None:
    """runc when present; cgroupfs without systemd; low ulimits under a low hard limit; nothing
    when podman's defaults suit."""
    here = containers_conf(has_runc=True, systemd=False, hard_nofile=20000)
    assert 'runtime = "runc"' in here
    assert 'cgroup_manager = "cgroupfs"' in here
    assert "nofile=1024:1024" in here
    assert containers_conf(has_runc=False, systemd=True, hard_nofile=1048576) == ""
    with_systemd = containers_conf(has_runc=True, systemd=True, hard_nofile=1048576)
    assert "cgroupfs" not in with_systemd
    assert "default_ulimits" not in with_systemd
