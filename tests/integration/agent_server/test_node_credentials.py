"""A real agent process's credential: it enrols on start, rotates its token in the background
without disturbing its pods, re-enrols after its Node is deleted, and a second host with the
join secret cannot take its name."""

from __future__ import annotations

import contextlib
import json
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService
from tests.support.server import ROOT, ServerProcess, free_port, start_server_process
from tests.support.wait import wait_for

NODE = "cred-node"
pytestmark = pytest.mark.podman


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose node tokens live 6 s: agents rotate every 4.2-5.4 s."""
    srv = start_server_process(tmp_path / "data", "--node-token-ttl", "6s")
    yield srv
    srv.stop()


@pytest.fixture
async def admin(server_process: ServerProcess) -> AsyncIterator[ApiClient]:
    srv = server_process
    client = ApiClient(server_url=srv.url, token=srv.admin_token, ca_file=str(srv.ca_file))
    yield client
    await client.close()


@contextlib.contextmanager
def agent_process(
    srv: ServerProcess, podman: PodmanService, root: Path, *, engine: bool = True
) -> Iterator[tuple[Path, Path]]:
    """`nodeagent agent` for NODE with its own state dir under `root`; (log, state dir).
    engine=False: a socket where no engine answers (a second host on this machine must not
    touch the first one's containers, which carry the same node name)."""
    root.mkdir()
    (root / "manifests").mkdir()
    token_file = root / "join-secret"
    token_file.write_text(srv.join_secret + "\n")
    log_path = root / "agent.log"
    argv = [
        sys.executable, "-m", "nodeagent", "agent",
        f"--node-name={NODE}",
        f"--manifest-dir={root / 'manifests'}",
        f"--state-dir={root / 'state'}",
        f"--server={srv.url}",
        f"--token-file={token_file}",
        f"--ca-file={srv.ca_file}",
        f"--runtime-socket={podman.socket_path if engine else root / 'no-engine.sock'}",
        f"--listen=127.0.0.1:{free_port()}",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield log_path, root / "state"
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            if engine:
                podman.remove_node_containers(NODE)


def events(log_path: Path, name: str) -> list[Obj]:
    """The agent's JSON log lines whose event is `name`."""
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == name:
                out.append(entry)
    return out


async def container_of(admin: ApiClient, name: str) -> tuple[str, int] | None:
    """(containerID, restartCount) of a running pod's container, or None while not running."""
    pod = await admin.get(resource_path("pods", namespace="default", name=name))
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    if not statuses or "running" not in (statuses[0].get("state") or {}):
        return None
    return str(statuses[0]["containerID"]), int(statuses[0]["restartCount"])


def sleeper(name: str, image: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "c",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sleep", "3600"],
                }
            ],
        },
    }


async def test_the_agent_rotates_and_re_enrols_without_disturbing_its_pods(
    tmp_path: Path,
    server_process: ServerProcess,
    admin: ApiClient,
    podman_service: PodmanService,
    busybox: str,
) -> None:
    """Enrolled on start (files 0600); several rotations later the same container runs and a
    pod created then still reaches the agent; a second host with the join secret is refused
    the name; after `delete node` the agent re-enrols and registers its Node again."""
    srv = server_process
    with agent_process(srv, podman_service, tmp_path / "host-a") as (log_path, state):

        async def ready() -> bool:
            with contextlib.suppress(errors.NotFound):
                node = await admin.get(resource_path("nodes", name=NODE))
                conds = {c["type"]: c["status"] for c in node["status"].get("conditions") or []}
                return conds.get("Ready") == "True"
            return False

        await wait_for(ready, timeout=60, message=f"node Ready; {log_path.read_text()[-2000:]}")
        for name in ("node-password", "node-credential.json"):
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
        await admin.create(resource_path("pods", namespace="default"), sleeper("before", busybox))
        first = await wait_for(
            lambda: container_of(admin, "before"), timeout=60, message="pod 'before' running"
        )
        await wait_for(
            lambda: len(events(log_path, "node_token_rotated")) >= 3,
            timeout=60,
            interval=0.5,
            message=f"three rotations; {log_path.read_text()[-2000:]}",
        )
        assert json.loads((state / "node-credential.json").read_text())["lifetimeSeconds"] == 6
        assert await container_of(admin, "before") == first  # same container, no restart
        assert len(events(log_path, "api_pods_listed")) == 1  # its watch never started over
        await admin.create(resource_path("pods", namespace="default"), sleeper("after", busybox))
        await wait_for(
            lambda: container_of(admin, "after"), timeout=60, message="pod 'after' running"
        )

        # a second host with the join secret, its own node password, and the same name
        with agent_process(srv, podman_service, tmp_path / "host-b", engine=False) as (
            other_log,
            other,
        ):
            await wait_for(
                lambda: "node password rejected" in other_log.read_text(),
                timeout=60,
                interval=0.5,
                message=f"host b refused; {other_log.read_text()[-2000:]}",
            )
            assert not (other / "node-credential.json").exists()
        assert await ready()

        enrolments = len(events(log_path, "node_enrolled"))
        node = await admin.get(resource_path("nodes", name=NODE))
        await admin.delete(resource_path("nodes", name=NODE))

        async def registered_again() -> bool:
            with contextlib.suppress(errors.NotFound):
                again = await admin.get(resource_path("nodes", name=NODE))
                return bool(again["metadata"]["uid"] != node["metadata"]["uid"])
            return False

        await wait_for(
            registered_again,
            timeout=60,
            interval=0.2,
            message=f"node registered again; {log_path.read_text()[-2000:]}",
        )
        assert len(events(log_path, "node_enrolled")) > enrolments
        assert events(log_path, "node_credential_rejected")
        assert await container_of(admin, "before") == first
