"""`nodeagent all-in-one`: the server and an agent in one process and one event loop, on this host.

The agent talks to the in-process server over HTTPS with a node token, like any other host.
When no container engine answers, it starts `podman system service` itself (with a
containers.conf that suits this host) and stops it at exit; the daemon containers keep running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from nodeagent import log as logsetup
from nodeagent.cli.nodeflags import add_node_flags

if TYPE_CHECKING:
    from nodeagent.agent.state import AgentState
    from nodeagent.server.settings import ServerSettings

log = structlog.get_logger()

DEFAULT_DATA_DIR = "/var/lib/nodeagent"
SYSTEM_MANIFEST_DIR = "/etc/nodeagent/manifests"
PODMAN_SOCKET = "/run/podman/podman.sock"
ENGINE_SOCKETS = (PODMAN_SOCKET, "/var/run/docker.sock")
ENGINE_START_TIMEOUT = 30.0
BANNER_WAIT = 15.0  # the banner waits this long at most for the agent's first pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"server and agent state (default {DEFAULT_DATA_DIR})",
    )
    a("--listen", default="127.0.0.1:6443", help="the server's HOST:PORT (default 127.0.0.1:6443)")
    a("--tls-san", action="append", default=[], help="an extra name for the server's certificate")
    a("--node-name", help="this node's name (default: the hostname)")
    a(
        "--manifest-dir",
        help=f"static pods (default {SYSTEM_MANIFEST_DIR} if it exists, else DIR/manifests)",
    )
    a("--agent-listen", default="127.0.0.1:10248", help="the agent's local HTTP endpoints")
    a(
        "--agent-serving-listen",
        default="127.0.0.1:10250",
        help="the agent's TLS port for the server's logs/exec/attach (port 0: any free one)",
    )
    a("--runtime-socket", help="the engine's socket; when none answers, podman is started on it")
    a("--podman-root", help="storage root of a podman started here (default: podman's own)")
    a("--podman-runroot", help="run root of a podman started here (default: podman's own)")
    add_node_flags(parser)
    a("--node-monitor-grace-period", default="40s", help="heartbeat grace before Unknown")
    a("--log-level", default="info", choices=("debug", "info", "warning", "error"))


# -- the container engine ------------------------------------------------------------------


def containers_conf(*, has_runc: bool, systemd: bool, hard_nofile: int) -> str:
    """PURE: a containers.conf for a podman started here; "" when podman's defaults suit.

    crun refuses a cgroup v1/v2 hybrid (runc works), the systemd cgroup manager needs systemd
    as PID 1, and podman's default ulimits ask for more open files than a low hard limit.
    """
    containers = []
    if hard_nofile < 1048576:
        containers.append('default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]')
    engine = ['runtime = "runc"'] if has_runc else []
    if not systemd:
        engine += ['cgroup_manager = "cgroupfs"', 'events_logger = "file"']
    if not containers and not engine:
        return ""
    return "\n".join(["[containers]", *containers, "[engine]", *engine, ""])


@dataclass(kw_only=True)
class Engine:
    socket: str
    process: subprocess.Popen[bytes] | None = None  # set when we started it

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        log.info("engine_stopped", socket=self.socket)


async def _answers(socket: str) -> bool:
    from nodeagent.runtime.docker import connect_runtime
    from nodeagent.runtime.protocol import RuntimeError_

    try:
        runtime = await connect_runtime(socket, timeout=2.0)
    except RuntimeError_:
        return False
    await runtime.close()
    return True


def _start_podman(args: argparse.Namespace, socket: str, data_dir: Path) -> subprocess.Popen[bytes]:
    if shutil.which("podman") is None:
        raise SystemExit(
            "nodeagent all-in-one: no container engine answers and podman is not installed"
        )
    env = dict(os.environ)
    conf = containers_conf(
        has_runc=shutil.which("runc") is not None,
        systemd=Path("/run/systemd/system").is_dir(),
        hard_nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    )
    podman_dir = data_dir / "podman"
    podman_dir.mkdir(parents=True, exist_ok=True)
    if conf:
        (podman_dir / "containers.conf").write_text(conf)
        env["CONTAINERS_CONF"] = str(podman_dir / "containers.conf")
    Path(socket).parent.mkdir(parents=True, exist_ok=True)
    argv = ["podman"]
    if args.podman_root:
        argv += ["--root", args.podman_root]
    if args.podman_runroot:
        argv += ["--runroot", args.podman_runroot]
    argv += ["system", "service", "--time=0", f"unix://{socket}"]
    with (podman_dir / "service.log").open("ab") as out:
        # cwd: conmon drops an `oom` marker into its working directory; keep it out of the user's.
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=podman_dir,
        )
    log.info("engine_starting", argv=" ".join(argv), log=str(podman_dir / "service.log"))
    return process


@contextlib.asynccontextmanager
async def engine(args: argparse.Namespace, data_dir: Path) -> AsyncIterator[Engine]:
    """The engine to use: a socket that answers, else a podman we start (and stop at exit)."""
    candidates = (args.runtime_socket,) if args.runtime_socket else ENGINE_SOCKETS
    for socket in candidates:
        if await _answers(socket):
            log.info("engine_found", socket=socket)
            yield Engine(socket=socket)
            return
    socket = args.runtime_socket or PODMAN_SOCKET
    found = Engine(socket=socket, process=_start_podman(args, socket, data_dir))
    try:
        deadline = time.monotonic() + ENGINE_START_TIMEOUT
        while not await _answers(socket):
            assert found.process is not None
            if found.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"nodeagent all-in-one: podman did not start on {socket}: "
                    f"see {data_dir / 'podman' / 'service.log'}"
                )
            await asyncio.sleep(0.1)
        log.info("engine_started", socket=socket)
        yield found
    finally:
        await asyncio.to_thread(found.stop)


# -- server + agent ------------------------------------------------------------------------


async def with_pod_address(settings: ServerSettings, socket: str) -> ServerSettings:
    """A loopback server also serves on the engine's bridge gateway, where pods off the host
    network reach it (the agent, whose URL is then loopback, tells them that address:
    agent/apiendpoint.py); a wildcard one serves there already and gets it in its
    certificate (the bridge may not exist yet when the names are read)."""
    from nodeagent.agent.apiendpoint import is_loopback
    from nodeagent.runtime.docker import connect_runtime
    from nodeagent.runtime.protocol import RuntimeError_

    wildcard = settings.listen_host in ("", "0.0.0.0", "::")
    if not (is_loopback(settings.listen_host) or wildcard) or settings.pod_addresses:
        return settings
    try:
        runtime = await connect_runtime(socket, timeout=5.0)
        try:
            gateway = await runtime.bridge_gateway()
        finally:
            await runtime.close()
    except RuntimeError_ as e:
        log.warning("bridge_gateway_unknown", error=str(e))
        return settings
    if gateway is None:
        return settings
    return dataclasses.replace(settings, pod_addresses=(gateway,))


def _examples_hint() -> str:
    """Where manifests/daemonset-example.yaml is: beside the venv when installed, else ./."""
    installed = Path(sys.prefix).parent / "manifests" / "daemonset-example.yaml"
    return str(installed) if installed.exists() else "manifests/daemonset-example.yaml"


def _kubectl() -> str:
    """`kubectl` when one is on PATH (install.sh links the venv's), else the venv's own path."""
    venv = Path(sys.prefix) / "bin" / "kubectl"
    return "kubectl" if shutil.which("kubectl") or not venv.exists() else str(venv)


def banner(*, node: str, kubeconfig: Path, manifest_dir: str, socket: str, started: bool) -> str:
    """What to tell the user once everything runs: a block set off from the log lines, with the
    commands README.md gives after `all-in-one` (this run's kubeconfig and paths)."""
    how = "started by nodeagent" if started else "found"
    k = _kubectl()
    rule = "-" * 78
    return "\n".join(
        [
            "",
            rule,
            f"nodeagent all-in-one is running: server and agent (node {node}) on this host.",
            f"  kubeconfig:  {kubeconfig}",
            f"  static pods: {manifest_dir} (drop Pod or DaemonSet YAML files here)",
            f"  engine:      {socket} ({how})",
            "In another shell:",
            f"  export KUBECONFIG={kubeconfig}",
            f"  {k} get nodes",
            f"  {k} apply -f {_examples_hint()}",
            f"  {k} get daemonset; {k} get pods -o wide",
            "Stop with Ctrl-C (SIGTERM): the daemon containers keep running.",
            rule,
            "",
        ]
    )


async def _started(agent: asyncio.Task[None], state: AgentState, timeout: float) -> None:
    """Wait until the agent has heard from each of its sources once (the node registered, the
    first pass made), or it ended, or `timeout`: the banner then comes after the start-up log
    lines instead of among them."""
    deadline = time.monotonic() + timeout
    # sources_expected is empty until the agent task has started (and then says which it waits
    # for): an empty set would count as synced at once.
    while not (
        (state.sources_expected and state.sources_synced)
        or agent.done()
        or time.monotonic() > deadline
    ):
        await asyncio.sleep(0.1)


def _agent_overrides(
    args: argparse.Namespace, *, data_dir: Path, server: Mapping[str, str | None]
) -> dict[str, object]:
    manifest_dir = args.manifest_dir or (
        SYSTEM_MANIFEST_DIR if Path(SYSTEM_MANIFEST_DIR).is_dir() else str(data_dir / "manifests")
    )
    return {
        "node_name": args.node_name,
        "manifest_dir": manifest_dir,
        "state_dir": str(data_dir / "agent"),
        "listen": args.agent_listen,
        "serving_listen": args.agent_serving_listen,
        "labels": args.labels,
        "taints": args.taints,
        "log_level": args.log_level,
        **server,
    }


async def run_all_in_one(args: argparse.Namespace) -> int:
    from nodeagent.agent.daemon import run_agent
    from nodeagent.agent.settings import SettingsError, load_settings
    from nodeagent.agent.state import AgentState
    from nodeagent.server.main import serve
    from nodeagent.server.settings import build_settings

    data_dir = Path(args.data_dir).absolute()
    try:
        server_settings = build_settings(
            data_dir=str(data_dir / "server"),
            listen=args.listen,
            tls_sans=args.tls_san,
            node_monitor_grace_period=args.node_monitor_grace_period,
            log_level=args.log_level,
        )
    except ValueError as e:
        print(f"nodeagent all-in-one: {e}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        found = await stack.enter_async_context(engine(args, data_dir))
        server_settings = await with_pod_address(server_settings, found.socket)
        handle = await stack.enter_async_context(serve(server_settings))
        server = {
            "server_url": handle.url,
            "token_file": str(handle.data_dir / "node-token"),
            "ca_file": str(handle.ca_file) if handle.ca_file else None,
            "runtime_socket": found.socket,
        }
        try:
            agent_settings = load_settings(
                overrides=_agent_overrides(args, data_dir=data_dir, server=server)
            )
        except SettingsError as e:
            for line in e.errors:
                print(f"nodeagent all-in-one: {line}", file=sys.stderr)
            return 2
        # static pods may carry secrets in env: a dir made here is 0700 (kubeadm's is too)
        Path(agent_settings.manifest_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        kubeconfig = link_kubeconfig(data_dir, handle.kubeconfig)
        state = AgentState(node_name=agent_settings.node_name)
        agent = asyncio.create_task(run_agent(agent_settings, stop=stop, state=state), name="agent")
        stopper = asyncio.create_task(stop.wait(), name="signals")
        await _started(agent, state, BANNER_WAIT)
        print(
            banner(
                node=agent_settings.node_name,
                kubeconfig=kubeconfig,
                manifest_dir=agent_settings.manifest_dir,
                socket=found.socket,
                started=found.process is not None,
            ),
            flush=True,
        )
        done, _ = await asyncio.wait(
            [agent, stopper, *handle.tasks], return_when=asyncio.FIRST_COMPLETED
        )
        stop.set()
        with contextlib.suppress(Exception):
            await agent  # a clean agent stop: containers stay
        stopper.cancel()
        failed = [t for t in done if t is not stopper]
        for task in failed:
            exc = None if task.cancelled() else task.exception()
            log.error("root_task_ended", task=task.get_name(), error=repr(exc))
        return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    logsetup.configure(level=args.log_level)
    try:
        return asyncio.run(run_all_in_one(args))
    except OSError as exc:  # the listen address taken, the data dir unwritable, ...
        print(f"nodeagent all-in-one: {exc}", file=sys.stderr)
        return 1


def link_kubeconfig(data_dir: Path, kubeconfig: Path) -> Path:
    """DIR/admin.kubeconfig -> the server's (DIR/server/admin.kubeconfig): the kubeconfig is
    where `--data-dir DIR` says, as `nodeagent server --data-dir DIR` writes it."""
    link = data_dir / kubeconfig.name
    if link.is_symlink() or not link.exists():
        tmp = link.with_name(link.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(kubeconfig, data_dir))
        tmp.replace(link)
    return link
