"""`kubectl exec -i/-t` and `kubectl logs --timestamps/--since` against the real server, a real
agent process and real containers (the session's private podman service).

The agent runs as `python -m nodeagent agent` joined to the kubectl suite's server; one pod is
bound to its node and shared by the module's tests (each test uses its own files in it).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.stream import stream as _stream

from tests.integration.kubectl.agentprocess import agent_process
from tests.integration.kubectl.conftest import KUBECTL, Cluster, wait_for
from tests.support.podman import PodmanService
from tests.support.server import free_port

pytestmark = pytest.mark.podman
# The client's helpers are untyped: treat them as Any.
load_kube_config: Any = config.load_kube_config
stream: Any = _stream

POD = "shell"
NAMESPACE = "exec-stream"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d) ")
_marks = itertools.count()


@dataclass(kw_only=True)
class Host:
    cluster: Cluster
    node: str
    process: subprocess.Popen[bytes]

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl("-n", NAMESPACE, *args, stdin=stdin, timeout=timeout)

    def argv(self, *args: str) -> list[str]:
        """kubectl's command line for args in the pod's namespace."""
        return [str(KUBECTL), *self.cluster._flags(), "-n", NAMESPACE, *args]


def _pod(node: str, image: str) -> dict[str, object]:
    script = "echo started; trap 'exit 0' TERM; while true; do sleep 0.2; done"
    container = {"name": "main", "image": image, "command": ["/bin/sh", "-c", script]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": NAMESPACE},
        "spec": {
            "nodeName": node,
            "hostNetwork": True,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
        },
    }


@pytest.fixture(scope="module")
def host(
    cluster: Cluster,
    podman_service: PodmanService,
    busybox: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Host]:
    """An agent process on a node of the suite's server, with the pod `shell` Running on it."""
    root = tmp_path_factory.mktemp("exec-host")
    node = f"exec-host-{os.getpid()}"
    with agent_process(cluster, podman_service, root=root, node=node) as process:
        try:
            cluster.namespace(NAMESPACE)
            status, body = cluster.api(
                "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", _pod(node, busybox)
            )
            assert status == 201, body

            def running() -> bool:
                pod = cluster.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}")
                return (pod.get("status") or {}).get("phase") == "Running"

            wait_for(running, timeout=60, what=f"the pod Running on {node}: {root / 'agent.log'}")
            h = Host(cluster=cluster, node=node, process=process)
            wait_for(
                lambda: "started" in h.kubectl("logs", POD).stdout, what="the pod's first line"
            )
            yield h
        finally:
            cluster.api("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}", {})


def test_stdin_reaches_the_command_and_its_end_ends_it(host: Host) -> None:
    """`echo hello | kubectl exec -i POD -- cat` prints hello and exits 0 (stdin's EOF is
    passed on, so cat ends); a large input arrives whole."""
    result = host.kubectl("exec", "-i", POD, "--", "cat", stdin="hello\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"
    big = "x" * 300_000
    result = host.kubectl("exec", "-i", POD, "--", "wc", "-c", stdin=big)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(big))


def test_python_client_exec_with_stdin_given_as_text(host: Host) -> None:
    """The Python client's `stream()` sends stdin given as str in text frames (its pod_exec
    example does): the command reads it, as kubelet takes a text frame's bytes."""
    configuration = client.Configuration()
    load_kube_config(
        config_file=str(host.cluster.server.kubeconfig), client_configuration=configuration
    )
    with client.ApiClient(configuration) as api_client:
        core: Any = client.CoreV1Api(api_client)
        session = stream(
            core.connect_get_namespaced_pod_exec,
            POD,
            NAMESPACE,
            command=["sh", "-c", "read line; echo got:$line"],
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
        try:
            session.write_stdin("hello\n")
            session.run_forever(timeout=20)
            assert session.read_stdout(timeout=1) == "got:hello\n"
            assert session.returncode == 0
        finally:
            session.close()


def test_exit_code_and_stderr(host: Host) -> None:
    """The command's exit code is kubectl's, with kubelet's message; stderr stays stderr."""
    script = "echo a; echo oops >&2; exit 3"
    result = host.kubectl("exec", POD, "--", "sh", "-c", script)
    assert result.returncode == 3
    assert result.stdout == "a\n"
    assert "oops" in result.stderr
    assert "command terminated with exit code 3" in result.stderr


def test_a_command_that_cannot_start(host: Host) -> None:
    """An executable that is not there fails kubectl with the engine's reason, not silence."""
    result = host.kubectl("exec", POD, "--", "/no/such/program")
    assert result.returncode != 0
    assert "no/such/program" in result.stderr + result.stdout


def test_output_streams_while_the_command_runs(host: Host) -> None:
    """The first line reaches kubectl while the command still waits; the rest follows when
    the test lets it go on."""
    flag = f"/tmp/go-{next(_marks)}"
    script = f"echo first; while [ ! -e {flag} ]; do sleep 0.1; done; echo second"
    proc = subprocess.Popen(
        host.argv("exec", POD, "--", "sh", "-c", script),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=host.cluster.server.kubectl_env(),
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no output within 30 s"
        assert proc.stdout.readline() == b"first\n"
        assert proc.poll() is None  # still waiting for the flag: the line was streamed
        touched = host.kubectl("exec", POD, "--", "touch", flag)
        assert touched.returncode == 0, touched.stderr
        out, err = proc.communicate(timeout=30)
        assert out == b"second\n"
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _run_under_pty(argv: list[str], env: dict[str, str], keys: bytes) -> tuple[int, bytes]:
    """Run argv with a terminal of 33 rows x 111 columns as stdin/stdout/stderr, type `keys`,
    and return the exit code and everything written to the terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 60
    sent = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: the terminal's last user is gone
                    break
                if not data:
                    break
                out += data
            if not sent and b"# " in out:  # the shell's prompt: it reads the terminal now
                os.write(master, keys)
                sent = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=30), bytes(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_interactive_terminal(host: Host) -> None:
    """`kubectl exec -it POD -- sh` gets a terminal of the user's size, runs what is typed,
    and exits with the shell's code."""
    code, out = _run_under_pty(
        host.argv("exec", "-it", POD, "--", "sh"),
        host.cluster.server.kubectl_env(),
        b"tty; stty size; exit 5\r",
    )
    text = out.decode(errors="replace")
    assert "/dev/pts/" in text, text
    assert "33 111" in text, text
    assert code == 5, text


def test_logs_timestamps(host: Host) -> None:
    """`kubectl logs --timestamps` starts every line with its RFC 3339 time."""
    result = host.kubectl("logs", "--timestamps", POD)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines
    assert all(RFC3339.match(line) for line in lines), lines
    assert lines[0].split(" ", 1)[1] == "started"


def test_logs_since(host: Host) -> None:
    """--since and --since-time leave out a line written before the window."""
    mark = next(_marks)
    old, new = f"old line {mark}", f"new line {mark}"
    assert host.kubectl("exec", POD, "--", "sh", "-c", f"echo {old} > /proc/1/fd/1").returncode == 0
    written = time.time()
    boundary = int(written) + 1  # --since-time has whole seconds
    later = max(written + 3.2, boundary + 0.1)
    wait_for(lambda: time.time() > later, timeout=10, what="the clock to pass the old line")
    assert host.kubectl("exec", POD, "--", "sh", "-c", f"echo {new} > /proc/1/fd/1").returncode == 0
    # At once: the new line must still be inside the window when the agent counts back.
    recent = host.kubectl("logs", "--since=3s", POD)
    assert recent.returncode == 0, recent.stderr
    assert new in recent.stdout
    assert old not in recent.stdout
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(boundary))
    after = host.kubectl("logs", f"--since-time={stamp}", POD)
    assert after.returncode == 0, after.stderr
    assert new in after.stdout
    assert old not in after.stdout
    everything = host.kubectl("logs", POD).stdout
    assert old in everything
    assert new in everything


def test_exec_on_a_node_without_a_reachable_agent(cluster: Cluster, ns: str) -> None:
    """A node whose agent endpoint is unknown, or whose agent does not answer, makes kubectl
    exec fail with the server's reason (not hang)."""
    pod = {
        "metadata": {"name": "lost", "namespace": ns},
        "spec": {"nodeName": "suite-node-1", "containers": [{"name": "c", "image": "busybox"}]},
    }
    status, body = cluster.api("POST", f"/api/v1/namespaces/{ns}/pods", pod)
    assert status == 201, body
    result = cluster.kubectl("-n", ns, "exec", "lost", "--", "true", timeout=60)
    assert result.returncode == 1
    assert "no agent endpoint is known for node suite-node-1" in result.stderr
    node = "exec-dead-agent"
    cluster.add_node(node)
    endpoint = {
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": free_port()}},
        }
    }
    code, reply = cluster.api(
        "PATCH",
        f"/api/v1/nodes/{node}/status",
        endpoint,
        token=cluster.server.node_token(node),
        content_type="application/strategic-merge-patch+json",
    )
    assert code == 200, reply
    pod["metadata"]["name"] = "orphan"  # type: ignore[index]
    pod["spec"]["nodeName"] = node  # type: ignore[index]
    status, body = cluster.api("POST", f"/api/v1/namespaces/{ns}/pods", pod)
    assert status == 201, body
    result = cluster.kubectl("-n", ns, "exec", "orphan", "--", "true", timeout=60)
    assert result.returncode == 1
    assert f"cannot reach the agent of node {node}" in result.stderr


def test_cp_both_ways(host: Host, tmp_path: Path) -> None:
    """`kubectl cp` (tar over exec: stdin in, stdout out) copies a file in and back out."""
    source = tmp_path / "config.txt"
    source.write_bytes(bytes(range(256)) * 200)
    target = f"/tmp/cp-{next(_marks)}.txt"
    put = host.kubectl("cp", str(source), f"{POD}:{target}")
    assert put.returncode == 0, put.stderr
    back = tmp_path / "back.txt"
    get = host.kubectl("cp", f"{POD}:{target}", str(back))
    assert get.returncode == 0, get.stderr
    assert back.read_bytes() == source.read_bytes()
