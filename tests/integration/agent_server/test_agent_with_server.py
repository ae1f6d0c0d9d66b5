"""`nodeagent agent` with real podman and a real server: Ready, mirror pods, API pods, deletes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService
from tests.support.server import ROOT, ServerProcess, free_port, start_server_process
from tests.support.wait import wait_for

pytestmark = pytest.mark.podman


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server_process(tmp_path / "data")
    yield srv
    srv.stop()


@pytest.fixture
def agent(
    tmp_path: Path, server_process: ServerProcess, podman_service: PodmanService, busybox: str
) -> Iterator[Path]:
    """The agent as a process, with one static pod (and one bad manifest) in its directory."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "logs.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: logs}\nspec:\n"
        "  terminationGracePeriodSeconds: 1\n"
        f"  containers: [{{name: c, image: {busybox}, imagePullPolicy: Never,"
        ' command: [/bin/sleep, "3600"]}]\n'
    )
    (manifests / "bad.yaml").write_text("kind: Pod\nmetadata: {name: bad}\nspec: {}\n")
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nodeagent",
            "agent",
            "--node-name=e2e-node",
            f"--manifest-dir={manifests}",
            f"--state-dir={tmp_path / 'state'}",
            f"--server={server_process.url}",
            f"--token-file={server_process.data_dir / 'node-token'}",
            f"--ca-file={server_process.ca_file}",
            f"--runtime-socket={podman_service.socket_path}",
            f"--listen=127.0.0.1:{free_port()}",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield tmp_path / "agent.log"
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:  # reported to the lead: reconciler wait_for on 3.11
        print("agent did not stop on SIGTERM within 20 s; killed", file=sys.stderr)
        proc.kill()
        proc.wait(10)
    log.close()
    for cid in podman_service.podman("ps", "-aq", "--filter", "name=e2e-node").stdout.split():
        podman_service.podman("rm", "-f", cid, check=False)


async def test_agent_reports_to_the_server(
    server_process: ServerProcess, agent: Path, busybox: str
) -> None:
    """The node turns Ready, its static pod shows as a Running mirror pod, a bad manifest
    becomes a Warning event, and a pod bound to it runs, is reported, and deletes cleanly."""
    admin = ApiClient(
        server_url=server_process.url,
        token=server_process.admin_token,
        ca_file=str(server_process.ca_file),
    )
    try:

        async def ready() -> bool:
            node = await admin.get(resource_path("nodes", name="e2e-node"))
            conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
            return conds.get("Ready") == "True"

        await wait_for(ready, timeout=60, message=f"node Ready; {agent.read_text()[-2000:]}")
        node = await admin.get(resource_path("nodes", name="e2e-node"))
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("podman://")

        async def phase(name: str) -> str:
            pod = await admin.get(resource_path("pods", namespace="default", name=name))
            return str((pod.get("status") or {}).get("phase"))

        async def running(name: str) -> bool:
            return await phase(name) == "Running"

        await wait_for(lambda: running("logs-e2e-node"), timeout=60, message="mirror pod Running")

        async def warned() -> bool:
            events = await admin.list(resource_path("events", namespace="default"))
            return any(e.get("reason") == "FailedToLoadManifest" for e in events["items"])

        await wait_for(warned, timeout=30, message="bad manifest reported")
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "api-pod", "namespace": "default"},
            "spec": {
                "nodeName": "e2e-node",
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "c",
                        "image": busybox,
                        "imagePullPolicy": "Never",
                        "command": ["/bin/sleep", "3600"],
                    }
                ],
            },
        }
        await admin.create(resource_path("pods", namespace="default"), pod)
        await wait_for(lambda: running("api-pod"), timeout=60, message="API pod Running")
        await admin.delete(resource_path("pods", namespace="default", name="api-pod"))

        async def gone() -> bool:
            try:
                await phase("api-pod")
            except errors.NotFound:
                return True
            return False

        await wait_for(gone, timeout=60, message="API pod deleted once its containers stopped")
    finally:
        await admin.close()
