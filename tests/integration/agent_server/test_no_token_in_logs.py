"""No token in any log: a real server and agent at debug level, driven through writes, exec and
refused requests, leave the admin token, the join secret and the node's credentials out of
their stderr and out of the audit log, which records those requests."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nodeagent.api.bodies import Obj
from tests.support import leaks
from tests.support.agentprocess import agent_process
from tests.support.podman import PodmanService
from tests.support.server import ServerProcess, start_server_process
from tests.support.wait import wait_until

pytestmark = pytest.mark.podman
KUBECTL = Path(sys.executable).parent / "kubectl"


def _kubectl(
    srv: ServerProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(srv.kubeconfig), *args],
        input=stdin, capture_output=True, text=True, timeout=60, env=srv.kubectl_env(), check=False,
    )  # fmt: skip


def _post(srv: ServerProcess, path: str, body: Obj, *, token: str) -> int:
    request = urllib.request.Request(
        srv.url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=str(srv.ca_file))
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_no_token_appears_in_any_log(
    podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    """Create, label, exec, delete with kubectl; a wrong token and a node's forbidden create:
    the server log, the agent log and the audit log hold none of the tokens, and the audit log
    records the exec, the 401, the 403 and the agent's enrolment."""
    node = f"tokens-{os.getpid()}"
    srv = start_server_process(tmp_path / "server", "--log-level", "debug")
    try:
        with agent_process(
            srv, podman_service, root=tmp_path / "agent", node=node,
            extra_args=("--log-level", "debug"),
        ) as agent:  # fmt: skip
            pod = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "app", "namespace": "default"},
                "spec": {
                    "nodeName": node, "hostNetwork": True, "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "c", "image": busybox, "imagePullPolicy": "Never",
                        "command": ["/bin/sleep", "3600"],
                        "env": [{"name": "DB_PASSWORD", "value": "hunter2"}],
                    }],
                },
            }  # fmt: skip
            assert _kubectl(srv, "apply", "-f", "-", stdin=json.dumps(pod)).returncode == 0
            wait_until(
                lambda: (
                    _kubectl(srv, "get", "pod", "app", "-o", "jsonpath={.status.phase}").stdout
                    == "Running"
                ),
                timeout=60,
                message="the pod runs on the agent",
            )
            assert _kubectl(srv, "label", "pod", "app", "tier=db").returncode == 0
            done = _kubectl(srv, "exec", "app", "--", "sh", "-c", "echo $DB_PASSWORD")
            assert (done.returncode, done.stdout) == (0, "hunter2\n"), done.stderr
            assert _kubectl(srv, "--token", "not-the-token", "get", "pods").returncode != 0
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
            assert _post(srv, "/api/v1/namespaces", namespace, token="not-the-token") == 401
            node_token = srv.node_token(node)
            assert _post(srv, "/api/v1/namespaces", namespace, token=node_token) == 403
            assert _kubectl(srv, "delete", "pod", "app", "--wait=false").returncode == 0
            needles = {srv.admin_token, srv.join_secret, node_token}
            needles |= leaks.secrets_under(srv.data_dir, agent.state_dir)
    finally:
        srv.stop()

    logs = {p: p.read_text(errors="replace") for p in tmp_path.rglob("*.log*") if p.is_file()}
    assert {p.name for p in logs} >= {"server-server.log", "agent.log", "audit.log"}
    found = [(p.name, n[:6] + "...") for p, text in logs.items() for n in needles if n in text]
    assert found == []

    records = [json.loads(line) for line in (srv.data_dir / "audit.log").read_text().splitlines()]
    summary = {
        (r["verb"], r.get("objectRef", {}).get("subresource", ""),
         r.get("responseStatus", {}).get("code"),
         r["user"].get("username"))
        for r in records
    }  # fmt: skip
    assert {
        ("get", "exec", 101, "admin"),  # a WebSocket exec is a GET, as in kube-apiserver
        ("create", "", 401, None),
        ("create", "", 403, f"system:node:{node}"),
        ("patch", "", 200, "admin"),
        ("delete", "", 200, "admin"),
    } <= summary, summary
    # the agent's enrolment and its serving certificate, nodeagent's own endpoints
    uris = {r["requestURI"] for r in records}
    assert {"/nodeagent.io/v1/enrol", "/nodeagent.io/v1/serving-certificate"} <= uris
    exec_records = [r for r in records if r.get("objectRef", {}).get("subresource") == "exec"]
    assert [r["stage"] for r in exec_records] == ["ResponseStarted"]  # at the session's start
