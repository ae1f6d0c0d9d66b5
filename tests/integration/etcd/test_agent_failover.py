"""Issue 22's fail-over scenario: a three-member etcd, two servers, an agent given both that
talks to the leader. kill -9 of the leader: the other server takes the controllers' Lease and
rolls a DaemonSet's new revision onto the agent's node; the agent goes on with the second
server (its Lease renewed, its node Ready past the grace), and no pod is restarted."""

from __future__ import annotations

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
from tests.support.etcdcluster import EtcdCluster
from tests.support.podman import PodmanService
from tests.support.server import free_port
from tests.support.serverpair import ELECTION, leaders, start_pair
from tests.support.wait import wait_for, wait_until

NODE = "failover-node"
GRACE = 6.0  # the servers' node monitor grace: Unknown soon if the agent did not move on
DS = "failover-ds"


def sleeper_spec(image: str) -> Obj:
    container = {
        "name": "c",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["/bin/sleep", "3600"],
    }
    return {"hostNetwork": True, "terminationGracePeriodSeconds": 1, "containers": [container]}


def sleeper(name: str, image: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": NODE, **sleeper_spec(image)},
    }


def daemonset(image: str) -> Obj:
    labels = {"app": DS}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": DS, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": sleeper_spec(image)},
        },
    }


def running_ids(state: AgentState, name: str) -> dict[str, str] | None:
    """The engine ids of pod `name`'s containers once the agent says it is Running."""
    for record in state.pods.values():
        if meta.name_of(record.pod) == name and record.status.get("phase") == "Running":
            return dict(record.container_ids) or None
    return None


def running_revisions(state: AgentState) -> set[str]:
    """The controller-revision-hash of each DaemonSet pod the agent runs."""
    return {
        meta.labels_of(record.pod).get("controller-revision-hash", "")
        for record in state.pods.values()
        if meta.labels_of(record.pod).get("app") == DS and record.status.get("phase") == "Running"
    }


async def test_agent_moves_to_the_second_server_when_the_leader_is_killed(
    podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    cluster = EtcdCluster.start(tmp_path / "etcd", members=3)
    first, second = start_pair(
        tmp_path, cluster.store_url, f"--node-monitor-grace-period={GRACE:g}s", *ELECTION
    )
    wait_until(lambda: leaders(first, second), timeout=30, message="a leader")
    (s1,) = leaders(first, second)  # the agent's first server: the one to be killed
    s2 = second if s1 is first else first
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
    try:
        async with running_agent(settings, podman_service) as state:
            await admin1.create(
                resource_path("pods", namespace="default"), sleeper("before", busybox)
            )
            await admin1.create(
                resource_path("daemonsets", namespace="default"), daemonset(busybox)
            )
            ids = await wait_for(
                lambda: running_ids(state, "before"), timeout=60, message="pod running via s1"
            )
            (old_revision,) = await wait_for(
                lambda: running_revisions(state), timeout=60, message="daemon pod running via s1"
            )
            s1.kill()
            killed_at = time.time()
            wait_until(lambda: leaders(s2), timeout=30, message="the survivor leads")
            # a new revision, through the survivor: only its controllers can roll it
            template_change = {"spec": {"template": {"metadata": {"annotations": {"rev": "2"}}}}}
            await admin2.patch(
                resource_path("daemonsets", namespace="default", name=DS), template_change
            )
            await wait_for(
                lambda: running_revisions(state) - {old_revision} or None,
                timeout=60,
                message="the new revision's pod running on the dead server's agent",
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
        cluster.stop()
