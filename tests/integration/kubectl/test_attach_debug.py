"""`kubectl attach` and `kubectl debug node/NAME` against the real server, a real agent
process and real containers (the session's private podman service).

The agent runs as `python -m nodeagent agent` joined to the kubectl suite's server; each test
starts its own pods on that node (in one namespace) and waits for them with a deadline.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nodeagent.api.bodies import Obj
from tests.integration.kubectl.agentprocess import agent_process
from tests.integration.kubectl.conftest import KUBECTL, Cluster, wait_for
from tests.support.podman import PodmanService, busybox_image

pytestmark = pytest.mark.podman

NAMESPACE = "attach-debug"
SHELL_IMAGE = "localhost/busybox-sh:1"  # busybox whose default command is a shell
_names = itertools.count()


@dataclass(kw_only=True)
class Host:
    cluster: Cluster
    node: str
    image: str
    root: Path

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl("-n", NAMESPACE, *args, stdin=stdin, timeout=timeout)

    def argv(self, *args: str) -> list[str]:
        return [str(KUBECTL), *self.cluster._flags(), "-n", NAMESPACE, *args]

    def env(self) -> dict[str, str]:
        return self.cluster.server.kubectl_env()

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """kubectl running with pipes for stdin, stdout and stderr."""
        pipe = subprocess.PIPE
        return subprocess.Popen(
            self.argv(*args), stdin=pipe, stdout=pipe, stderr=pipe, env=self.env()
        )

    def line(self, proc: subprocess.Popen[bytes], typed: bytes = b"") -> bytes:
        """Type `typed` (if any) into kubectl, then read one line of its output (30 s)."""
        assert proc.stdin is not None
        assert proc.stdout is not None
        if typed:
            proc.stdin.write(typed)
            proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no output within 30 s"
        return proc.stdout.readline()

    def pod(self, name: str) -> Obj:
        return self.cluster.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")

    def phase(self, name: str) -> str:
        return str((self.pod(name).get("status") or {}).get("phase", ""))

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> None:
        wait_for(
            lambda: self.phase(name) == phase,
            timeout=timeout,
            what=f"pod {name} {phase}: {self.root / 'agent.log'}",
        )

    def run(self, container: Obj, *, restart: str = "Never") -> str:
        """Create a pod with `container` on this node and wait for it to run; its name."""
        name = f"p{next(_names)}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "nodeName": self.node,
                "hostNetwork": True,
                "restartPolicy": restart,
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": self.image, **container}],
            },
        }
        status, body = self.cluster.api("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", pod)
        assert status == 201, body
        self.wait_phase(name, "Running")
        return name


@pytest.fixture(scope="module")
def host(
    cluster: Cluster,
    podman_service: PodmanService,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Host]:
    """An agent process on a node of the suite's server, with no pods yet."""
    image = busybox_image(podman_service, SHELL_IMAGE, changes=('CMD ["/bin/sh"]',))
    root = tmp_path_factory.mktemp("attach-host")
    node = f"attach-host-{os.getpid()}"
    with agent_process(cluster, podman_service, root=root, node=node):
        cluster.namespace(NAMESPACE)

        def ready() -> bool:
            status, body = cluster.api("GET", f"/api/v1/nodes/{node}")
            if status != 200:
                return False
            conditions = (body.get("status") or {}).get("conditions") or []
            return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

        wait_for(ready, timeout=60, what=f"node {node} Ready: {root / 'agent.log'}")
        try:
            yield Host(cluster=cluster, node=node, image=image, root=root)
        finally:
            cluster.kubectl("-n", NAMESPACE, "delete", "pods", "--all", "--wait=false")


class Terminal:
    """A command run with a pseudo-terminal of 33 rows x 111 columns as its stdin, stdout
    and stderr: type into it, wait for text on it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import fcntl
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.screen = bytearray()

    def _pump(self, timeout: float) -> bool:
        """Read what is there within `timeout`; False once the terminal is closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the terminal's last user is gone
            return False
        self.screen += data
        return bool(data)

    def wait(self, seen: Callable[[bytes], bool], *, timeout: float = 60, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not seen(bytes(self.screen)):
            if time.monotonic() > deadline or not self._pump(0.2):
                if seen(bytes(self.screen)):
                    return
                raise AssertionError(f"{what}: not on the terminal: {bytes(self.screen)!r}")

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def at_prompt(self) -> None:
        """Wait for kubectl's attach message, press enter, wait for the shell's prompt (the
        one it printed before the attach is not shown again)."""
        self.wait(lambda s: b"try pressing enter" in s, what="kubectl's attach message")
        self.type(b"\r")
        self.wait(lambda s: b"# " in s, what="the shell's prompt")

    def finish(self, timeout: float = 60) -> int:
        """Read until the command exits; its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if not self._pump(0.2):
                break
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)

    @property
    def text(self) -> str:
        return self.screen.decode(errors="replace")


def test_attach_streams_output_until_the_process_ends(host: Host) -> None:
    """`kubectl attach POD` shows the main process's lines as it writes them, stdout and
    stderr apart; when the process ends, kubectl exits 0 (an attach reports Success)."""
    script = (
        "i=0; while [ ! -e /tmp/stop ]; do echo line $i; i=$((i+1)); sleep 0.2; done; "
        "echo bye; echo gone >&2; exit 3"
    )
    name = host.run({"command": ["sh", "-c", script]})
    proc = host.popen("attach", name)
    try:
        first, second = host.line(proc), host.line(proc)
        assert first.startswith(b"line "), first
        assert second.startswith(b"line "), second
        assert int(second.split()[1]) == int(first.split()[1]) + 1  # as written, not replayed
        assert proc.poll() is None
        stopped = host.kubectl("exec", name, "--", "touch", "/tmp/stop")
        assert stopped.returncode == 0, stopped.stderr
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.endswith(b"bye\n"), out
    assert b"gone" in err
    host.wait_phase(name, "Failed")  # the process's own exit code (3) is the pod's


def test_attach_stdin_reaches_a_process_that_reads_it(host: Host) -> None:
    """`kubectl attach -i` to `cat` with stdin: true: what is typed is echoed back while
    kubectl stays attached. With stdinOnce, the end of kubectl's input is cat's end of input:
    cat exits, `kubectl attach -i` exits 0 and the pod is Succeeded."""
    name = host.run({"command": ["cat"], "stdin": True})
    proc = host.popen("attach", "-i", name)
    try:
        for word in (b"hello\n", b"again\n"):
            assert host.line(proc, word) == word
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    once = host.run({"command": ["cat"], "stdin": True, "stdinOnce": True})
    result = host.kubectl("attach", "-i", once, stdin="only once\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "only once\n"
    host.wait_phase(once, "Succeeded")


def test_attach_without_stdin_in_the_spec(host: Host) -> None:
    """`kubectl attach -it` to a container without stdin or tty: kubectl says it cannot use
    a terminal, and the output still streams (the input is dropped, as containerd does)."""
    script = "while true; do echo tick; sleep 0.2; done"
    name = host.run({"command": ["sh", "-c", script]})
    proc = host.popen("attach", "-it", name)
    try:
        assert host.line(proc, b"ignored\n") == b"tick\n"
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=30)
    assert b"Unable to use a TTY - container main did not allocate one" in err


def test_attach_interactive_terminal(host: Host) -> None:
    """`kubectl attach -it` to a shell with stdin and tty, under a pty: the shell reads the
    terminal at the user's size; when it exits, kubectl exits 0."""
    name = host.run({"command": ["sh"], "stdin": True, "tty": True})
    term = Terminal(host.argv("attach", "-it", name), host.env())
    try:
        term.at_prompt()
        term.type(b"tty\r")
        # kubectl attach first sends the size plus one row and column (so that the program
        # redraws), then the size; podman applies a resize through conmon asynchronously, so
        # ask the shell until the user's size has arrived.
        deadline = time.monotonic() + 30
        while "33 111" not in term.text and time.monotonic() < deadline:
            term.type(b"stty size\r")
            with contextlib.suppress(AssertionError):
                term.wait(lambda s: b"33 111" in s, timeout=2, what="the user's size")
        term.type(b"exit 4\r")
        code = term.finish()
    finally:
        term.close()
    assert code == 0, term.text
    assert "/dev/pts/" in term.text or "/dev/console" in term.text, term.text
    assert "33 111" in term.text, term.text
    host.wait_phase(name, "Failed")


def test_run_interactive_and_remove(host: Host) -> None:
    """`kubectl run -it --rm --restart=Never` (bound to the node with --overrides, as there
    is no scheduler): kubectl attaches to the new pod's shell and deletes the pod after it."""
    name = f"run{next(_names)}"
    overrides = json.dumps({"spec": {"nodeName": host.node}})
    term = Terminal(
        host.argv(
            "run", name, "-it", "--rm", "--restart=Never", f"--image={host.image}",
            "--image-pull-policy=Never", f"--overrides={overrides}", "--", "sh",
        ),
        host.env(),
    )  # fmt: skip
    try:
        term.at_prompt()
        term.type(b"echo from-$((6*7)); exit\r")
        code = term.finish(timeout=90)
    finally:
        term.close()
    assert code == 0, term.text
    assert "from-42" in term.text
    assert f'pod "{name}" deleted' in term.text
    assert host.cluster.api("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")[0] == 404


def test_attach_refusals(host: Host) -> None:
    """A pod with no node is the server's BadRequest, as kube-apiserver words it; the admin
    may create pods/attach (kubectl auth can-i), a node may not."""
    unbound = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unbound", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "c", "image": host.image}]},
    }
    status, body = host.cluster.api("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", unbound)
    assert status == 201, body
    result = host.kubectl("attach", "unbound", "--pod-running-timeout=1s", timeout=30)
    assert result.returncode != 0
    can = host.kubectl("auth", "can-i", "create", "pods/attach")
    assert can.stdout.strip() == "yes", can.stderr
    code, reply = host.cluster.api(
        "POST",
        f"/api/v1/namespaces/{NAMESPACE}/pods/unbound/attach?stdout=true",
        token=host.cluster.server.node_token(host.node),
    )
    assert code == 403, reply
    assert 'cannot create resource "pods/attach"' in reply["message"], reply
    code, reply = host.cluster.api(
        "POST", f"/api/v1/namespaces/{NAMESPACE}/pods/unbound/attach?stdout=true"
    )
    assert code == 400, reply
    assert reply["message"] == "pod unbound does not have a host assigned"


def _debugger_pod(host: Host) -> str:
    """The name of the one node-debugger pod of this node (kubectl names it)."""
    names = [
        str(p["metadata"]["name"])
        for p in host.cluster.pods(NAMESPACE)
        if p["metadata"]["name"].startswith(f"node-debugger-{host.node}-")
        and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(names) == 1, names
    return names[0]


def test_debug_node_interactive(host: Host, tmp_path: Path) -> None:
    """`kubectl debug node/NODE -it --image=IMAGE`: the debugger pod runs on the node with
    the host's / at /host and the host's namespaces; kubectl attaches to its shell, where
    `chroot /host` reads a file of this host as root; when the shell exits the pod is
    Succeeded (restartPolicy Never), and `kubectl delete pod` removes it."""
    marker = tmp_path / "marker"
    marker.write_text(f"host file {os.getpid()}\n")
    term = Terminal(
        host.argv(
            "debug", f"node/{host.node}", "-it", f"--image={host.image}",
            "--image-pull-policy=Never",
        ),
        host.env(),
    )  # fmt: skip
    try:
        term.at_prompt()
        term.type(f"chroot /host cat {marker}; id -u; exit\r".encode())
        code = term.finish()
    finally:
        term.close()
    assert code == 0, term.text
    assert f"host file {os.getpid()}" in term.text
    assert "\n0\r\n" in term.text.replace("\r\r", "\r"), term.text  # id -u: root
    name = _debugger_pod(host)
    spec = host.pod(name)["spec"]
    assert (spec["hostPID"], spec["hostNetwork"], spec["hostIPC"]) == (True, True, True)
    assert spec["restartPolicy"] == "Never"
    host.wait_phase(name, "Succeeded")
    deleted = host.kubectl("delete", "pod", name, timeout=90)
    assert deleted.returncode == 0, deleted.stderr
    assert host.cluster.api("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")[0] == 404


def _capabilities(status: str) -> str:
    return next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))


def test_debug_node_sysadmin_profile(host: Host) -> None:
    """--profile=sysadmin runs the debugger privileged (every capability this root process
    has) in the host's PID namespace: without -i kubectl only creates the pod, whose log
    shows the host's process 1."""
    script = "cat /proc/1/comm; grep CapEff /proc/self/status"
    created = host.kubectl(
        "debug", f"node/{host.node}", f"--image={host.image}", "--image-pull-policy=Never",
        "--profile=sysadmin", "--", "sh", "-c", script,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    name = _debugger_pod(host)
    host.wait_phase(name, "Succeeded")
    logs = host.kubectl("logs", name)
    assert logs.returncode == 0, logs.stderr
    first, second = logs.stdout.splitlines()
    assert first == Path("/proc/1/comm").read_text().strip()
    assert _capabilities(second) == _capabilities(Path("/proc/self/status").read_text())
    assert host.kubectl("delete", "pod", name, timeout=90).returncode == 0


def test_debug_pod_ephemeral_containers_are_not_served(cluster: Cluster, ns: str) -> None:
    """`kubectl debug POD` (an ephemeral container) gets kubectl's own clear refusal, as from
    a cluster without the ephemeralcontainers subresource (the 404 carries `details`, which
    kubectl reads; without them it crashed)."""
    pod = {
        "metadata": {"name": "target", "namespace": ns},
        "spec": {"nodeName": "suite-node-1", "containers": [{"name": "c", "image": "busybox"}]},
    }
    status, body = cluster.api("POST", f"/api/v1/namespaces/{ns}/pods", pod)
    assert status == 201, body
    result = cluster.kubectl("-n", ns, "debug", "target", "--image=busybox", "--", "true")
    assert result.returncode == 1, result.stderr
    assert "ephemeral containers are disabled for this cluster" in result.stderr
