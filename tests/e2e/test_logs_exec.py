"""kubectl logs and exec for a pod on a fleet host: the server's proxy reaches the agent's TLS
serving port at the node's InternalIP (by default 0.0.0.0:10250), with its client certificate."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import pytest
import yaml

from tests.e2e.harness import Fleet
from tests.e2e.reading import example_daemonset, pod_ready, wait_for

pytestmark = pytest.mark.e2e
SCRIPT = (
    "trap 'exit 0' TERM; echo hello from $(hostname); i=0; "
    "while true; do sleep 0.5; i=$((i+1)); echo tick $i; done"
)


def test_kubectl_logs_and_exec_reach_a_pod_on_another_host(fleet: Fleet) -> None:
    """`kubectl logs POD` prints what its container wrote, `kubectl logs -f` keeps printing new
    lines, `kubectl exec POD -- cat /etc/hostname` prints the pod's hostname and exec passes the
    exit code on; a caller off the host gets no /pods on the plain port (403) and none on the
    serving port without the server's client certificate (401)."""
    ds = yaml.safe_load(example_daemonset("ds-talk", image=fleet.image))
    container = ds["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["/bin/sh", "-c", SCRIPT]
    container.pop("ports", None)
    with fleet.daemonset(yaml.safe_dump(ds)):
        worker = fleet.workers[0]

        def ready_pod() -> str | None:
            pods = [
                p for p in fleet.pods("name=ds-talk") if p["spec"].get("nodeName") == worker.name
            ]
            return pods[0]["metadata"]["name"] if pods and pod_ready(pods[0]) else None

        pod = wait_for(ready_pod, timeout=90, message=f"ds-talk ready on {worker.name}")
        logs = wait_for(
            lambda: fleet.kubectl("logs", pod).stdout or None,
            timeout=30,
            message="kubectl logs shows the container's line",
        )
        assert logs.startswith("hello from ")
        hostname = fleet.kubectl("exec", pod, "--", "cat", "/etc/hostname").stdout.strip()
        assert hostname
        assert logs.splitlines()[0] == f"hello from {hostname}"
        with fleet.kubectl_lines("logs", "-f", "--tail=1", pod) as next_line:
            first = next_line()  # the last line so far: "hello ..." if no tick was written yet
            ticks = [] if first.startswith("hello ") else [int(first.split()[1])]
            ticks += [int(next_line().split()[1]) for _ in range(3 - len(ticks))]
        assert ticks == list(range(ticks[0], ticks[0] + 3))  # new lines kept coming
        failed = fleet.kubectl("exec", pod, "--", "/bin/sh", "-c", "exit 3", check=False)
        assert failed.returncode == 3

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://{worker.ip}:10248/pods", timeout=10)
        assert refused.value.code == 403
        with urllib.request.urlopen(f"http://{worker.ip}:10248/healthz", timeout=10) as r:
            assert r.read() == b"ok"
        assert fleet.server is not None
        context = ssl.create_default_context(cafile=str(fleet.server.ca_file))
        context.check_hostname = False  # the certificate names the node, checked by the server
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"https://{worker.ip}:10250/pods", timeout=10, context=context)
        assert refused.value.code == 401
