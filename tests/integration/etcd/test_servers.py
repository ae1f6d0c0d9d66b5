"""Several `nodeagent server` processes on one etcd, driven by the real kubectl: writes through
one are seen (and watched) through the other, one elected leader runs the controllers, and the
other takes over when the leader is killed. Also: etcd unreachable at start, and later."""

from __future__ import annotations

import secrets
import select
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.etcd import EtcdProcess
from tests.support.server import ServerProcess, free_port, start_server_process
from tests.support.serverpair import ELECTION, leaders, start_pair
from tests.support.wait import wait_until

KUBECTL = Path(sys.executable).parent / "kubectl"
WATCH_DS = ("get", "daemonsets", "-n", "kube-system", "-w", "-o", "name")
DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluentd, namespace: kube-system}
spec:
  selector: {matchLabels: {name: fluentd}}
  template:
    metadata: {labels: {name: fluentd}}
    spec:
      containers: [{name: main, image: busybox:v1}]
"""


def node(name: str) -> str:
    return f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n"


def kubectl(
    via: ServerProcess, kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--server", via.url, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=via.kubectl_env(),
        check=False,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result


def daemon_pods(via: ServerProcess, kubeconfig: Path) -> list[str]:
    """`NODE` of each fluentd pod, as the server lists them."""
    out = kubectl(
        via,
        kubeconfig,
        "get",
        "pods",
        "-n",
        "kube-system",
        "-l",
        "name=fluentd",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName}{'\\n'}{end}",
    ).stdout
    return sorted(line for line in out.splitlines() if line)


@dataclass(kw_only=True)
class Pair:
    first: ServerProcess
    second: ServerProcess
    kubeconfig: Path  # the first server's; --server picks which server kubectl talks to


@pytest.fixture(scope="module")
def pair(etcd_server: EtcdProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    etcd_server.wipe()
    first, second = start_pair(
        tmp_path_factory.mktemp("pair"), f"etcd://{etcd_server.endpoint}", *ELECTION
    )
    yield Pair(first=first, second=second, kubeconfig=first.kubeconfig)
    first.stop()
    second.stop()


def test_kubectl_writes_through_one_server_and_watches_through_the_other(pair: Pair) -> None:
    """A DaemonSet applied through server 1 shows in `get -w` and `get` through server 2, and
    a node registered through server 2 gets exactly one daemon pod (one leader controls)."""
    s1, s2, config = pair.first, pair.second, pair.kubeconfig
    watch = subprocess.Popen(
        [str(KUBECTL), "--kubeconfig", str(config), "--server", s2.url, *WATCH_DS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=s2.kubectl_env(),
    )
    try:
        kubectl(s1, config, "apply", "-f", "-", stdin=DAEMONSET)
        assert watch.stdout is not None
        ready, _, _ = select.select([watch.stdout], [], [], 30)
        assert ready, "kubectl get -w printed nothing in 30 s"
        assert watch.stdout.readline().strip() == "daemonset.apps/fluentd"
    finally:
        watch.kill()
        watch.wait(10)
    assert "fluentd" in kubectl(s2, config, "get", "ds", "-n", "kube-system").stdout
    wait_until(lambda: len(leaders(s1, s2)) == 1, timeout=30, message="one leader")

    kubectl(s2, config, "apply", "-f", "-", stdin=node("n1"))
    wait_until(
        lambda: daemon_pods(s1, config) == ["n1"], timeout=30, interval=0.3, message="pod on n1"
    )
    scheduled = "jsonpath={.status.currentNumberScheduled}/{.status.desiredNumberScheduled}"
    wait_until(
        lambda: (
            kubectl(s2, config, "get", "ds/fluentd", "-n", "kube-system", "-o", scheduled).stdout
            == "1/1"
        ),
        timeout=30,
        interval=0.3,
        message="status 1/1",
    )
    assert daemon_pods(s2, config) == ["n1"]
    assert len(leaders(s1, s2)) == 1
    # the workqueue metrics are the leader's alone: a standby's controllers never ran
    (leader,) = leaders(s1, s2)
    standby = s2 if leader is s1 else s1
    leading, waiting = (
        kubectl(s, config, "get", "--raw", "/metrics").stdout for s in (leader, standby)
    )
    assert 'workqueue_adds_total{name="daemonset"}' in leading
    assert "\nworkqueue_" not in waiting  # the families, but no samples


def test_node_credentials_are_shared_and_revoked_on_every_server(pair: Pair) -> None:
    """A node enrolled through server 1 is known to server 2, which refuses a second host for
    its name; `kubectl delete node` through server 2 makes its token 401 on server 1 too."""
    s1, s2 = pair.first, pair.second
    password = secrets.token_urlsafe(32)
    status, reply = s1.enrol("etcd-cred-node", password)
    assert status == 201, reply
    token = reply["status"]["token"]
    whoami = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    wait_until(
        lambda: s2.post(whoami, token=token)[0] == 201, timeout=10, message="known to server 2"
    )
    assert s2.enrol("etcd-cred-node", secrets.token_urlsafe(32))[0] == 403
    tainted = node("etcd-cred-node") + "spec: {taints: [{key: x, effect: NoSchedule}]}\n"
    kubectl(s1, pair.kubeconfig, "apply", "-f", "-", stdin=tainted)  # no daemon pod for it
    kubectl(s2, pair.kubeconfig, "delete", "node", "etcd-cred-node")
    wait_until(
        lambda: s1.post(whoami, token=token)[0] == 401, timeout=10, message="revoked on server 1"
    )
    assert s2.post(whoami, token=token)[0] == 401


def test_the_other_server_takes_over_when_the_leader_is_killed(pair: Pair) -> None:
    """kill -9 the leader: within the (short) lease the survivor leads; a new node's daemon
    pod is created by it."""
    (leader,) = leaders(pair.first, pair.second)
    survivor = pair.second if leader is pair.first else pair.first
    leader.kill()
    wait_until(lambda: leaders(survivor), timeout=30, message="the survivor leads")
    kubectl(survivor, pair.kubeconfig, "apply", "-f", "-", stdin=node("n2"))
    wait_until(
        lambda: daemon_pods(survivor, pair.kubeconfig) == ["n1", "n2"],
        timeout=30,
        interval=0.3,
        message="pod on n2",
    )


def test_unreachable_etcd_at_start_is_an_error_naming_the_flag(tmp_path: Path) -> None:
    url = f"etcd://127.0.0.1:{free_port()}"
    flags = ("--listen", "127.0.0.1:0", "--store", url)
    result = subprocess.run(
        [sys.executable, "-m", "nodeagent", "server", "--data-dir", str(tmp_path / "d"), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"nodeagent server: --store {url}: connection refused" in result.stderr.splitlines()


def test_readyz_is_not_ready_while_etcd_is_down(tmp_path: Path) -> None:
    etcd = EtcdProcess.start(tmp_path / "etcd")
    server = start_server_process(tmp_path / "s", f"--store=etcd://{etcd.endpoint}")
    try:

        def readyz() -> int:
            request = urllib.request.Request(server.url + "/readyz")
            try:
                with urllib.request.urlopen(request, context=server.ssl_context(), timeout=5) as r:
                    return int(r.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        assert readyz() == 200
        etcd.kill()
        wait_until(lambda: readyz() == 503, timeout=30, message="not ready")
        etcd.start_again()
        wait_until(lambda: readyz() == 200, timeout=30, message="ready again")
    finally:
        server.stop()
        etcd.stop()
