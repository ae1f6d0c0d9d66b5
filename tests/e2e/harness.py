"""A fleet on one machine: the real server on the host and agents in network namespaces.

Each host is a netns on a private bridge (10.213.X.0/24, X picked free per run), with its own
podman API service inside the netns, its own storage, manifest and state dirs, and the real
`python -m nodeagent agent` as a subprocess (`ip netns exec`), logging to a file. Everything a
run creates is written down in /run/nodeagent-e2e/RUN.json first, so teardown, and the next run
after a crash, can remove it all (processes, containers, mounts, veths, bridge, netns).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nodeagent.api.bodies import Obj
from tests.e2e.cleanup import (
    NETNS_PREFIX,
    STATE_DIR,
    cleanup_leftovers,
    cleanup_run,
    engine_argv,
    sh,
    unmount_under,
)
from tests.e2e.reading import wait_for
from tests.support import leaks
from tests.support.podman import PodmanService, busybox_image, clear_containers
from tests.support.server import ServerProcess, free_port, start_server_process
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(Path(sys.executable).parent / "kubectl")
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane:NoSchedule"
HostSpec = tuple[str, tuple[str, ...], tuple[str, ...]]  # name, labels, taints
AGENT_CONFIG = "leaseInterval: 2\nstatusUpdateInterval: 2\nfileCheckInterval: 5\n"


@dataclass(kw_only=True)
class Host:
    """One simulated host: a netns, its podman service and its agent process."""

    index: int
    name: str
    netns: str
    veth: str
    ip: str
    dir: Path
    labels: tuple[str, ...] = ()
    taints: tuple[str, ...] = ()
    podman_service: PodmanService | None = None
    process: subprocess.Popen[bytes] | None = None
    agent_args: tuple[str, ...] = ()

    @property
    def manifest_dir(self) -> Path:
        return self.dir / "manifests"

    @property
    def log_path(self) -> Path:
        return self.dir / "agent.log"

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The podman CLI on this host's storage, e.g. host.podman("ps")."""
        assert self.podman_service is not None
        return self.podman_service.podman(*args, check=check)

    def containers(self, *, all_: bool = False) -> list[Obj]:
        """`podman ps` (JSON) of the pods' app containers: sandboxes left out."""
        args = ["ps", "--format", "json"] + (["--all"] if all_ else [])
        rows: list[Obj] = json.loads(self.podman(*args).stdout or "[]")
        return [r for r in rows if (r.get("Labels") or {}).get("io.nodeagent.sandbox") == "false"]

    def running(self, pod_prefix: str) -> list[Obj]:
        """Running app containers whose pod name starts with `pod_prefix`."""
        return [
            c
            for c in self.containers()
            if c.get("State") == "running" and str(_pod_name(c)).startswith(pod_prefix)
        ]

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start_agent(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest_dir.mkdir(exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, sys.executable, "-m", "nodeagent", "agent",
             *self.agent_args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()

    def stop_agent(self, *, timeout: float = 20.0) -> None:
        """SIGTERM the agent (its containers stay) and wait; SIGKILL when it hangs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None


def _pod_name(container: Obj) -> str:
    return str((container.get("Labels") or {}).get("io.nodeagent.pod.name", ""))


@dataclass(kw_only=True)
class Fleet:
    """The server on the host side and its hosts; see tests/e2e/conftest.py for the fixture."""

    run_id: str
    subnet: str  # "10.213.X"
    bridge: str
    base: Path
    server: ServerProcess | None = None
    hosts: list[Host] = field(default_factory=list)
    image: str = ""
    prometheus_port: int = 0
    agent_config: str = AGENT_CONFIG  # each agent's --config file
    _next_index: int = 0
    # hosts start in parallel threads, and each records what it made
    _record_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- what a user does ------------------------------------------------------------------

    def kubectl(
        self, *args: str, check: bool = True, input_: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The real kubectl with the admin kubeconfig and this run's own cache dir."""
        assert self.server is not None
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "HOME": str(self.home)}
        result = subprocess.run(
            [KUBECTL, "--cache-dir", str(self.home / "cache"), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            input=input_,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    @contextlib.contextmanager
    def kubectl_lines(self, *args: str) -> Iterator[Callable[[], str]]:
        """kubectl running in the background (`logs -f`); yields a function that returns its
        next stdout line, waiting at most 30 s (queue.Empty then). Killed on exit."""
        assert self.server is not None
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "HOME": str(self.home)}
        proc = subprocess.Popen(
            [KUBECTL, "--cache-dir", str(self.home / "cache"), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        try:
            yield lambda: lines.get(timeout=30)
        finally:
            proc.kill()
            proc.wait(10)

    @contextlib.contextmanager
    def daemonset(self, text: str) -> Iterator[Obj]:
        """`kubectl create` the DaemonSet; afterwards delete it and its pods, and wait until
        no host runs a container of it any more (so the next test starts clean)."""
        ds: Obj = yaml.safe_load(text)
        name = ds["metadata"]["name"]
        namespace = ds["metadata"].get("namespace", "default")
        selector = ",".join(f"{k}={v}" for k, v in ds["spec"]["selector"]["matchLabels"].items())
        self.kubectl("create", "-f", "-", input_=text)
        try:
            yield ds
        finally:
            ns = ("-n", namespace)
            self.kubectl("delete", "daemonset", name, *ns, "--ignore-not-found", check=False)
            self.kubectl("delete", "pods", "-l", selector, *ns, "--wait=false", check=False)
            wait_for(
                lambda: not any(h.running(name + "-") for h in self.hosts),
                timeout=90,
                message=f"every container of {name} gone",
            )

    def pods(self, selector: str, namespace: str = "default") -> list[Obj]:
        """The pods matching a label selector, as kubectl returns them."""
        items: list[Obj] = self.kubectl_json("get", "pods", "-n", namespace, "-l", selector)[
            "items"
        ]
        return items

    def kubectl_json(self, *args: str) -> Obj:
        out: Obj = json.loads(self.kubectl(*args, "-o", "json").stdout)
        return out

    def apply(self, text: str, *extra: str) -> None:
        self.kubectl("apply", "-f", "-", *extra, input_=text)

    @property
    def home(self) -> Path:
        return self.base / "kube-home"

    @property
    def server_url(self) -> str:
        """The server as the hosts reach it: the bridge address."""
        assert self.server is not None
        return f"https://{self.subnet}.1:{self.server.url.rsplit(':', 1)[1]}"

    @property
    def workers(self) -> list[Host]:
        return [h for h in self.hosts if CONTROL_PLANE_TAINT not in h.taints]

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    # -- hosts -----------------------------------------------------------------------------

    def add_hosts(self, specs: list[HostSpec], *, server: bool = True) -> list[Host]:
        """Create hosts (name, labels, taints) in parallel and start their agents."""
        hosts = [self._plan_host(name, labels, taints) for name, labels, taints in specs]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            list(pool.map(lambda h: self._start_host(h, server=server), hosts))
        self.hosts.extend(hosts)
        return hosts

    def add_host(
        self, name: str, *, labels: tuple[str, ...] = (), taints: tuple[str, ...] = (),
        server: bool = True,
    ) -> Host:  # fmt: skip
        """One more host (`server=False`: an agent that has no server at all)."""
        return self.add_hosts([(name, labels, taints)], server=server)[0]

    def remove_host(self, host: Host) -> None:
        """Take a host away for good: its agent, containers, engine and network go."""
        host.stop_agent()
        _stop_engine(host)
        sh("ip", "link", "del", host.veth, check=False)
        sh("ip", "netns", "del", host.netns, check=False)
        self.hosts.remove(host)

    def partition(self, host: Host) -> None:
        """Cut the host off the network (its link goes down); the host itself runs on."""
        sh("ip", "link", "set", host.veth, "down")

    def heal(self, host: Host) -> None:
        sh("ip", "link", "set", host.veth, "up")

    def _plan_host(self, name: str, labels: tuple[str, ...], taints: tuple[str, ...]) -> Host:
        index = self._next_index
        self._next_index += 1
        host = Host(
            index=index,
            name=name,
            netns=f"{NETNS_PREFIX}{self.run_id}-h{index}",
            veth=f"nae{self.run_id}h{index}",
            ip=f"{self.subnet}.{10 + index}",
            dir=self.base / name,
            labels=labels,
            taints=taints,
        )
        self._record(netns=host.netns, link=host.veth)
        return host

    def _start_host(self, host: Host, *, server: bool) -> None:
        peer = f"nae{self.run_id}p{host.index}"
        sh("ip", "netns", "add", host.netns)
        sh("ip", "link", "add", host.veth, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", host.netns)
        sh("ip", "link", "set", host.veth, "master", self.bridge, "up")
        inside = ("ip", "netns", "exec", host.netns)
        sh(*inside, "ip", "link", "set", "lo", "up")
        sh(*inside, "ip", "link", "set", peer, "name", "eth0")
        sh(*inside, "ip", "addr", "add", f"{host.ip}/24", "dev", "eth0")
        sh(*inside, "ip", "link", "set", "eth0", "up")
        sh(*inside, "ip", "route", "add", "default", "via", f"{self.subnet}.1")
        host.dir.mkdir(parents=True, exist_ok=True)
        host.podman_service = PodmanService.start(host.dir / "podman", netns=host.netns)
        service = host.podman_service
        self._record(
            run_dir=str(service.run_dir),
            engine=json.dumps([str(service.base_dir), str(service.run_dir), host.netns]),
        )
        busybox_image(host.podman_service, self.image)
        # Heartbeats every 2 s, so that a short node-monitor grace period is safe.
        (host.dir / "agent.yaml").write_text(self.agent_config)
        args = [
            "--config", str(host.dir / "agent.yaml"),
            "--node-name", host.name,
            "--manifest-dir", str(host.manifest_dir),
            "--state-dir", str(host.dir / "state"),
            "--runtime-socket", host.podman_service.socket_path,
            "--listen", "0.0.0.0:10248",  # the default: health, and /pods for this host
            "--serving-listen", "0.0.0.0:10250",  # the default: the server's logs/exec proxy
        ]  # fmt: skip
        if server:
            assert self.server is not None
            (host.dir / "token").write_text(self.server.join_secret + "\n")
            args += [
                "--server", self.server_url,
                "--token-file", str(host.dir / "token"),
                "--ca-file", str(self.server.ca_file),
            ]  # fmt: skip
        args += [f"--label={label}" for label in host.labels]
        args += [f"--taint={taint}" for taint in host.taints]
        host.agent_args = tuple(args)
        leaks.remember_log(host.log_path)  # scanned for tokens when the session ends
        host.start_agent()

    # -- the run's own record, for teardown and for the next run after a crash ---------------

    def remember_process(self, process: subprocess.Popen[bytes]) -> None:
        """A process a test started (killed by the next run if this one crashes)."""
        self._record(proc=str(process.pid))

    @property
    def record_path(self) -> Path:
        return STATE_DIR / f"{self.run_id}.json"

    def _record(self, **item: str) -> None:
        with self._record_lock:
            path = self.record_path
            data = json.loads(path.read_text()) if path.exists() else {}
            data.setdefault("pid", os.getpid())
            for key, value in item.items():
                data.setdefault(key + "s", []).append(value)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(path)

    def start(
        self, *, hosts: int, node_monitor_grace: str, server_args: tuple[str, ...] = ()
    ) -> None:
        """Bridge, server, and `hosts` hosts (host 0 a tainted control plane), all Ready.

        server_args: more flags for `nodeagent server` (e.g. `--store etcd://...`)."""
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self._record(link=self.bridge)
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        port = free_port()
        # the port a test's Prometheus takes (the DaemonSet metric gate asks it; nothing
        # listens there unless a test starts one: tests/e2e/test_rollout_guard.py)
        self.prometheus_port = free_port()
        self.server = start_server_process(
            self.base / "server",
            "--listen", f"0.0.0.0:{port}",
            "--tls-san", f"{self.subnet}.1",
            "--node-monitor-grace-period", node_monitor_grace,
            "--prometheus-url", f"http://127.0.0.1:{self.prometheus_port}",
            *server_args,
            port=port,
        )  # fmt: skip
        if self.server.process is not None:
            self._record(proc=str(self.server.process.pid))
        # the taint at registration (--taint, as kubeadm's --register-with-taints); the role
        # label by the admin afterwards, as kubeadm does: a node may not set node-role labels
        specs: list[HostSpec] = [("master", (), (CONTROL_PLANE_TAINT,))]
        specs += [(f"node{i}", (), ()) for i in range(1, hosts)]
        self.add_hosts(specs)
        self.wait_ready([h.name for h in self.hosts])
        self.kubectl("label", "node", "master", "node-role.kubernetes.io/control-plane=")

    def wait_ready(self, names: list[str], *, timeout: float = 60.0) -> None:
        def ready() -> bool:
            nodes = self.kubectl_json("get", "nodes")["items"]
            status = {n["metadata"]["name"]: _ready(n) for n in nodes}
            return all(status.get(name) == "True" for name in names)

        wait_until(ready, timeout=timeout, interval=0.5, message=f"nodes {names} Ready")

    def stop(self) -> None:
        """Tear everything down; each step runs even when an earlier one fails."""
        for host in list(self.hosts):
            with contextlib.suppress(Exception):
                host.stop_agent(timeout=10)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(self.hosts))) as pool:
            list(pool.map(_stop_engine, self.hosts))
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()
        cleanup_run(self.record_path)
        unmount_under(str(self.base))

    def diagnostics(self) -> list[tuple[str, str]]:
        """(title, text) of each log, for a failed test's report."""
        out = [(f"agent {h.name} log", h.logs()[-6000:]) for h in self.hosts]
        if self.server is not None:
            out.append(("server log", self.server.logs()))
        return out


def _ready(node: Obj) -> str:
    for cond in node.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return str(cond.get("status"))
    return "Unknown"


def _stop_engine(host: Host) -> None:
    service = host.podman_service
    if service is None:
        return
    with contextlib.suppress(Exception):
        clear_containers(*engine_argv(str(service.base_dir), str(service.run_dir), host.netns))
    with contextlib.suppress(Exception):
        service.stop()
    host.podman_service = None


def new_fleet(base: Path, image: str) -> Fleet:
    """A Fleet with a fresh run id and a free 10.213.X.0/24 (nothing created yet)."""
    cleanup_leftovers()
    used = sh("ip", "-4", "-o", "addr").stdout
    for _ in range(50):
        subnet = f"10.213.{secrets.randbelow(250) + 1}"
        if f" {subnet}." not in used:
            break
    run_id = secrets.token_hex(2)
    return Fleet(run_id=run_id, subnet=subnet, bridge=f"nae{run_id}br", base=base, image=image)
