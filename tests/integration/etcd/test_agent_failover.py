"""An agent given two servers over one etcd goes on with the second when the first is killed:
no pod restarted, its node Ready, and what is changed through the second reaches it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.reporter import LEASE_NAMESPACE
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.state import AgentState
from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import parse_time
from tests.support.agenttask import running_agent
from tests.support.etcd import EtcdProcess
from tests.support.podman import PodmanService
from tests.support.server import ServerProcess, free_port, start_server_process
from tests.support.wait import wait_for

NODE = "failover-node"
GRACE = 6.0  # the servers' node monitor grace: Unknown soon if the agent did not move on
SHARED_FILES = ("ca.crt", "ca.key", "admin-token", "node-token")  # docs/operations.md
SERVER_FLAGS = (
    f"--node-monitor-grace-period={GRACE:g}s",
    "--leader-elect-lease-duration=4s",
    "--leader-elect-renew-deadline=3s",
    "--leader-elect-retry-period=0.5s",
)


def start_servers(base: Path, etcd: EtcdProcess) -> tuple[ServerProcess, ServerProcess]:
    store = f"--store=etcd://{etcd.endpoint}"
    first = start_server_process(base / "s1", store, *SERVER_FLAGS)
    (base / "s2").mkdir(mode=0o700)
    for name in SHARED_FILES:
        shutil.copy2(first.data_dir / name, base / "s2" / name)
    return first, start_server_process(base / "s2", store, *SERVER_FLAGS)


def sleeper(name: str, image: str) -> Obj:
    container = {
        "name": "c",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["/bin/sleep", "3600"],
    }
    spec = {"nodeName": NODE, "hostNetwork": True, "terminationGracePeriodSeconds": 1}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {**spec, "containers": [container]},
    }


def running_ids(state: AgentState, name: str) -> dict[str, str] | None:
    """The engine ids of pod `name`'s containers once the agent says it is Running."""
    for record in state.pods.values():
        if meta.name_of(record.pod) == name and record.status.get("phase") == "Running":
            return dict(record.container_ids) or None
    return None


async def test_agent_moves_to_the_second_server_when_the_first_is_killed(
    etcd_server: EtcdProcess, podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    etcd_server.wipe()
    s1, s2 = start_servers(tmp_path, etcd_server)
    admin1 = ApiClient(server_url=s1.url, token=s1.admin_token, ca_file=str(s1.ca_file))
    admin2 = ApiClient(server_url=s2.url, token=s2.admin_token, ca_file=str(s2.ca_file))
    (tmp_path / "join-secret").write_text(s1.join_secret)
    (tmp_path / "manifests").mkdir()
    settings = AgentSettings(
        node_name=NODE,
        state_dir=str(tmp_path / "state"),
        manifest_dir=str(tmp_path / "manifests"),
        server_url=s1.url,
        server_urls=(s1.url, s2.url),
        token_file=str(tmp_path / "join-secret"),
        ca_file=str(s1.ca_file),
        runtime_socket=podman_service.socket_path,
        listen=f"127.0.0.1:{free_port()}",
        serving_listen="127.0.0.1:0",
        lease_interval=1.0,
    )
    pods = resource_path("pods", namespace="default")
    try:
        async with running_agent(settings, podman_service) as state:
            await admin1.create(pods, sleeper("before", busybox))
            ids = await wait_for(
                lambda: running_ids(state, "before"), timeout=60, message="pod running via s1"
            )
            s1.kill()
            killed_at = time.time()
            await admin2.create(pods, sleeper("after", busybox))
            await wait_for(
                lambda: running_ids(state, "after"), timeout=60, message="pod made via s2 runs"
            )

            async def lease_renewed_past_grace() -> bool:
                path = resource_path("leases", namespace=LEASE_NAMESPACE, name=NODE)
                renewed = (await admin2.get(path))["spec"]["renewTime"]
                return parse_time(renewed) > killed_at + 2 * GRACE

            await wait_for(lease_renewed_past_grace, timeout=60, message="lease renewed via s2")
            node = await admin2.get(resource_path("nodes", name=NODE))
            ready = meta.get_condition(node.get("status") or {}, "Ready")
            assert ready is not None
            assert ready["status"] == "True"
            assert running_ids(state, "before") == ids  # the same containers: none restarted
    finally:
        await admin1.close()
        await admin2.close()
        s1.kill()
        s2.stop()
