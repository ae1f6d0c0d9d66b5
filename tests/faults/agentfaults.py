"""The agent's fault cases share this: a server process, agent processes that a test kills with
SIGKILL or arms with failpoints (nodeagent/failpoints.py), and what the host's podman holds.

    host = FaultHost(server=srv, podman=podman_service, root=tmp, image=busybox)
    agent = host.start_agent("n1", failpoints="after-container-create")
    agent.wait_exit(60) == 137
    host.create_pod(host.sleeper("web", "n1"));  host.containers("n1")

`NODEAGENT_FAULT_REPEAT` (default 1) is how many times each crash case runs: the test command
runs each once, docs/operations.md runs them 20 times.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodeagent.api.bodies import Obj
from tests.support import leaks
from tests.support.podman import PodmanService, ping
from tests.support.server import ServerProcess, free_port, start_server_process
from tests.support.wait import wait_until

REPEAT = int(os.environ.get("NODEAGENT_FAULT_REPEAT", "1"))


@dataclass(kw_only=True)
class AgentRun:
    """One agent process (`python -m nodeagent agent`) and where its log goes."""

    process: subprocess.Popen[bytes]
    node: str
    state_dir: Path
    log_path: Path
    listen: str

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash (or the OOM killer) would."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM (the containers stay), SIGKILL when it does not end in 20 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def exit_code(self) -> int | None:
        return self.process.poll()


@dataclass(kw_only=True)
class FaultHost:
    """A server process and the session's podman, on which agents of several nodes run."""

    server: ServerProcess
    podman: PodmanService
    root: Path
    image: str
    runs: list[AgentRun] = field(default_factory=list)

    def start_agent(
        self,
        node: str,
        *,
        failpoints: str = "",
        server_url: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> AgentRun:
        """Start an agent for `node` (its dirs under root/node, kept across restarts); it is
        not waited for. `failpoints` arms NODEAGENT_FAILPOINTS; `server_url` overrides the
        server's (an unreachable one, say); `extra_args` are more flags."""
        base = self.root / node
        (base / "manifests").mkdir(parents=True, exist_ok=True)
        secret = base / "join-secret"
        secret.write_text(self.server.join_secret)
        secret.chmod(0o600)
        listen = f"127.0.0.1:{free_port()}"
        argv = [
            sys.executable, "-m", "nodeagent", "agent",
            "--node-name", node,
            "--server", server_url or self.server.url,
            "--token-file", str(secret),
            "--ca-file", str(self.server.ca_file),
            "--runtime-socket", self.podman.socket_path,
            "--listen", listen,
            "--serving-listen", "127.0.0.1:0",
            "--manifest-dir", str(base / "manifests"),
            "--state-dir", str(base / "state"),
            *extra_args,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "NODEAGENT_FAILPOINTS"}
        if failpoints:
            env["NODEAGENT_FAILPOINTS"] = failpoints
        log_path = base / f"agent-{len(self.runs)}.log"
        leaks.remember_log(log_path)
        with log_path.open("wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        run = AgentRun(
            process=process, node=node, state_dir=base / "state", log_path=log_path, listen=listen
        )
        self.runs.append(run)
        return run

    def manifests(self, node: str) -> Path:
        path = self.root / node / "manifests"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        """Stop every agent and remove the containers their nodes left."""
        for run in self.runs:
            run.stop()
            leaks.remember_secrets_under(run.state_dir)
        for node in {run.node for run in self.runs}:
            self.podman.remove_node_containers(node)

    # ---- the server, as the admin -------------------------------------------------------
    def api(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        *,
        content_type: str = "application/json",
    ) -> tuple[int, Obj]:
        """One admin request; (HTTP status, JSON reply)."""
        request = urllib.request.Request(
            self.server.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.server.admin_token}",
                "Content-Type": content_type,
            },
        )
        context = ssl.create_default_context(cafile=str(self.server.ca_file))
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as r:
                return int(r.status), json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return int(e.code), json.loads(e.read() or b"{}")

    def create_pod(self, pod: Obj) -> Obj:
        namespace = pod["metadata"].get("namespace", "default")
        status, reply = self.api("POST", f"/api/v1/namespaces/{namespace}/pods", pod)
        assert status == 201, reply
        return reply

    def pod(self, name: str, namespace: str = "default") -> Obj | None:
        status, reply = self.api("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        return reply if status == 200 else None

    def node(self, name: str) -> Obj | None:
        status, reply = self.api("GET", f"/api/v1/nodes/{name}")
        return reply if status == 200 else None

    def events_about(self, kind: str, name: str) -> list[Obj]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        status, reply = self.api("GET", f"/api/v1/events?fieldSelector={selector}")
        assert status == 200, reply
        items: list[Obj] = reply.get("items") or []
        return items

    def sleeper(self, name: str, node: str, *, image: str | None = None, **meta: Any) -> Obj:
        """A pod bound to `node` that sleeps, handles TERM, with a 1 s grace (host network:
        no sandbox, so one container per pod)."""
        script = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
        container = {
            "name": "main",
            "image": image or self.image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/sh", "-c", script],
        }
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", **meta},
            "spec": {
                "nodeName": node,
                "hostNetwork": True,
                "terminationGracePeriodSeconds": 1,
                "containers": [container],
            },
        }

    # ---- the engine ---------------------------------------------------------------------
    def containers(self, node: str) -> list[Obj]:
        """Every container (any state) an agent of `node` made, as `podman ps -a` shows it."""
        result = self.podman.podman(
            "ps", "-a", "--filter", f"label=io.nodeagent.node={node}", "--format", "json"
        )
        found: list[Obj] = json.loads(result.stdout or "[]") or []
        return found


def stop_engine_api(service: PodmanService) -> None:
    """End the podman API service only: its containers keep running (conmon holds them)."""
    assert service.process is not None
    service.process.send_signal(signal.SIGTERM)
    service.process.wait(20)


def start_engine_api(service: PodmanService) -> None:
    """Start the API service again on the same storage, run dir and socket."""
    log = (service.base_dir / "service.log").open("ab")
    service.process = subprocess.Popen(
        service._argv("system", "service", "--time=0", service.url),
        env=service.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=service.base_dir,
    )
    log.close()
    wait_until(lambda: ping(service.socket_path), timeout=30, message="the podman API answers")


class Watch:
    """A watch on the server (admin) read in a thread: every event's object, in order, until
    `close()`. Started from a resourceVersion, it sees every change made since then."""

    def __init__(self, host: FaultHost, path: str, resource_version: str) -> None:
        self.objects: list[tuple[str, Obj]] = []
        sep = "&" if "?" in path else "?"
        url = urllib.parse.urlsplit(host.server.url)
        context = ssl.create_default_context(cafile=str(host.server.ca_file))
        self._conn = http.client.HTTPSConnection(
            url.hostname or "127.0.0.1", url.port, context=context, timeout=120
        )
        self._conn.connect()
        # kept to shut down from close(): closing the response while the thread reads from it
        # waits for that read (up to the timeout)
        self._sock = self._conn.sock
        self._conn.request(
            "GET",
            f"{path}{sep}watch=1&resourceVersion={resource_version}",
            headers={"Authorization": f"Bearer {host.server.admin_token}"},
        )
        self._response = self._conn.getresponse()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # close() from the test's thread ends the read with one of these
        with contextlib.suppress(OSError, ValueError, AttributeError, http.client.HTTPException):
            for line in self._response:
                event = json.loads(line)
                self.objects.append((str(event.get("type")), event.get("object") or {}))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        with contextlib.suppress(OSError):
            self._response.close()
        self._conn.close()


def pod_containers(containers: list[Obj], pod_uid: str) -> list[Obj]:
    """The app containers (not the sandbox) of one pod."""
    return [
        c
        for c in containers
        if (c.get("Labels") or {}).get("io.nodeagent.pod.uid") == pod_uid
        and (c.get("Labels") or {}).get("io.nodeagent.sandbox") != "true"
    ]


def phase_ready(pod: Obj | None) -> bool:
    """The pod is Running and Ready on the server."""
    status = (pod or {}).get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return status.get("phase") == "Running" and ready


@contextlib.contextmanager
def fault_host(root: Path, podman: PodmanService, image: str) -> Iterator[FaultHost]:
    """A server process under `root` and a FaultHost on `podman`; both stopped on exit (the
    module-scoped `host` fixture of each agent fault module)."""
    server = start_server_process(root / "server")
    faults = FaultHost(server=server, podman=podman, root=root, image=image)
    try:
        yield faults
    finally:
        faults.close()
        server.stop()
