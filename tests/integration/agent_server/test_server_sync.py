"""The agent's server side against the real server: node, lease, pod status, mirror pods, source."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import structlog

from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.checkpoint import load_checkpoint
from nodeagent.agent.podevents import pulled_event, pulling_event
from nodeagent.agent.reporter import NodeReporter
from nodeagent.agent.serversync import PodSync
from nodeagent.agent.sources.apiserver import ServerPodsView
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.state import AgentState, PodRecord
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from tests.integration.agent_server.conftest import (
    NODE,
    agent_settings,
    get_node,
    node_condition,
    running_sync,
)
from tests.support.server import ServerInfo, free_port, start_server_process
from tests.support.wait import wait_for

PODS = resource_path("pods", namespace="default")


def api_pod(name: str, node: str = NODE) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
    }


async def next_api_update(queue: asyncio.Queue[SourceUpdate]) -> SourceUpdate:
    while True:
        update = await asyncio.wait_for(queue.get(), 15)
        if update.source == SourceName.API:
            return update


async def test_node_registers_with_labels_taints_conditions_and_lease(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """The Node appears with its labels, taints, conditions and nodeInfo; the Lease is renewed;
    node events are posted, a Warning the agent recorded among them."""
    async with running_sync(agent_settings(server, tmp_path)) as agent:
        # what the file source records when inotify cannot serve the manifest directory
        agent.state.record_node_warning("ManifestDirectoryPolled", "polled: a test")
        ready = await wait_for(
            lambda: node_condition(admin, "Ready"), timeout=15, message="node has Ready"
        )
        assert ready["status"] == "True"
        assert ready["reason"] == "KubeletReady"
        node = await get_node(admin)
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == NODE
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["disk"] == "ssd"
        assert node["spec"]["taints"] == [
            {"key": "dedicated", "value": "logs", "effect": "NoSchedule"}
        ]
        status = node["status"]
        types = {c["type"]: c["status"] for c in status["conditions"]}
        assert types == {
            "MemoryPressure": "False",
            "DiskPressure": "False",
            "PIDPressure": "False",
            "Ready": "True",
        }
        assert status["nodeInfo"]["containerRuntimeVersion"] == "podman://4.3.1"
        # no serving port in this harness (the daemon gives run_server_sync one): port 0, so
        # the server's proxy says the node's agent serves no logs/exec (test_serving_port.py)
        assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 0
        assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
        lease_path = resource_path("leases", namespace="kube-node-lease", name=NODE)
        lease = await wait_for(lambda: admin.get(lease_path), timeout=10, message="lease exists")
        assert lease["spec"]["holderIdentity"] == NODE
        assert lease["spec"]["leaseDurationSeconds"] == 40
        assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
        first = lease["spec"]["renewTime"]

        async def renewed() -> bool:
            return bool((await admin.get(lease_path))["spec"]["renewTime"] != first)

        await wait_for(renewed, timeout=10, message="lease renewed")

        async def node_events() -> set[str]:
            listed = await admin.list(resource_path("events", namespace="default"))
            reasons = {
                e["reason"] for e in listed["items"] if e["involvedObject"].get("kind") == "Node"
            }
            assert {"Starting", "NodeReady", "NodeHasSufficientMemory"} <= reasons
            warnings = [e for e in listed["items"] if e["reason"] == "ManifestDirectoryPolled"]
            assert [(e["type"], e["message"]) for e in warnings] == [("Warning", "polled: a test")]
            return reasons

        await wait_for(node_events, timeout=10, message="node events recorded")


async def test_existing_node_keeps_server_taints_and_cordon(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """Re-registering an existing Node keeps the taints and unschedulable set on the server."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"team": "infra"}},
        "spec": {"unschedulable": True, "taints": [{"key": "x", "effect": "NoExecute"}]},
    }
    await admin.create(resource_path("nodes"), node)
    async with running_sync(agent_settings(server, tmp_path)):
        await wait_for(lambda: node_condition(admin, "Ready"), timeout=15, message="status sent")
        got = await get_node(admin)
        assert got["spec"]["unschedulable"] is True
        assert got["spec"]["taints"] == [{"key": "x", "effect": "NoExecute"}]
        assert got["metadata"]["labels"]["team"] == "infra"
        assert got["metadata"]["labels"]["disk"] == "ssd"


async def test_deleted_node_registers_again(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """A Node deleted on the server while the agent runs is registered again by the agent."""
    async with running_sync(agent_settings(server, tmp_path)):
        await wait_for(lambda: node_condition(admin, "Ready"), timeout=15, message="registered")
        first_uid = (await get_node(admin))["metadata"]["uid"]
        await admin.delete(resource_path("nodes", name=NODE))

        async def back() -> bool:
            node = await get_node(admin)
            ready = await node_condition(admin, "Ready")
            return bool(node["metadata"]["uid"] != first_uid and ready["status"] == "True")

        await wait_for(back, timeout=20, message="node registered again with its status")


async def test_runtime_down_is_sent_at_once(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """A dead engine makes Ready False with the error, without waiting for the heartbeat."""
    settings = agent_settings(server, tmp_path, status_update_interval=300.0)
    async with running_sync(settings) as agent:
        await wait_for(lambda: node_condition(admin, "Ready"), timeout=15, message="first status")
        agent.state.runtime_error = "no engine answers at /run/podman/podman.sock"

        async def not_ready() -> Obj:
            cond = await node_condition(admin, "Ready")
            assert cond["status"] == "False"
            return cond

        cond = await wait_for(not_ready, timeout=10, message="Ready turned False")
        assert cond["reason"] == "KubeletNotReady"
        assert cond["message"] == (
            "container runtime is down: no engine at /run/podman/podman.sock".replace(
                "no engine", "no engine answers"
            )
        )


async def test_api_pods_flow_status_and_deletion(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """Pods bound here arrive as API sets; their status is reported; a delete is confirmed."""
    await admin.create(PODS, api_pod("other", node="node-b"))
    async with running_sync(agent_settings(server, tmp_path)) as agent:
        agent.state.sources_seen.add(SourceName.API)  # as the reconciler does on each update
        assert (await next_api_update(agent.queue)).pods == ()
        created = await admin.create(PODS, api_pod("web"))
        update = await next_api_update(agent.queue)
        assert [p["metadata"]["name"] for p in update.pods] == ["web"]
        uid = created["metadata"]["uid"]
        status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        agent.state.pods[uid] = PodRecord(
            pod=update.pods[0], source=SourceName.API, status=status, container_ids={"c": "x"}
        )
        agent.state.changed.set()
        web = resource_path("pods", namespace="default", name="web")

        async def running() -> bool:
            return bool((await admin.get(web)).get("status", {}).get("phase") == "Running")

        await wait_for(running, timeout=10, message="pod status reported")
        await admin.delete(web)  # graceful: the node must confirm
        while not update.pods[0]["metadata"].get("deletionTimestamp"):
            update = await next_api_update(agent.queue)
        assert (await admin.get(web))["metadata"]["uid"] == uid  # still there: containers run

        async def killing() -> list[str]:
            listed = await admin.list(resource_path("events", namespace="default"))
            return [
                e["message"]
                for e in listed["items"]
                if e["involvedObject"].get("uid") == uid and e["reason"] == "Killing"
            ]

        assert await wait_for(killing, timeout=10, message="kubelet's Killing event") == [
            "Stopping container c"
        ]
        del agent.state.pods[uid]  # the agent stopped its containers
        agent.state.changed.set()

        async def gone() -> bool:
            try:
                await admin.get(web)
            except errors.NotFound:
                return True
            return False

        await wait_for(gone, timeout=10, message="deletion confirmed by the node")


async def create_bound(
    admin: ApiClient, queue: asyncio.Queue[SourceUpdate], name: str
) -> tuple[str, Obj]:
    """Create pod `name` on this node; its uid and the pod once the API source has sent it."""
    uid = (await admin.create(PODS, api_pod(name)))["metadata"]["uid"]
    update = await next_api_update(queue)
    while not update.pods:
        update = await next_api_update(queue)
    return str(uid), update.pods[0]


def _container_status(*, cid: str = "", waiting: str = "") -> Obj:
    state: Obj = (
        {"waiting": {"reason": waiting, "message": "no such image"}} if waiting else {"running": {}}
    )
    status: Obj = {"name": "c", "image": "busybox", "state": state}
    if cid:
        status["containerID"] = cid
    return {"phase": "Running" if not waiting else "Pending", "containerStatuses": [status]}


async def test_pod_events_list_in_time_order_and_repeats_count(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """kubelet's pod events reach the server named POD.<hex nanos>, so they list in the order
    they happened; a repeat (a second crash back-off, a second start) bumps the count of the
    Event written before instead of adding a row."""
    async with running_sync(agent_settings(server, tmp_path)) as agent:
        agent.state.sources_seen.add(SourceName.API)
        uid, bound = await create_bound(admin, agent.queue, "crashy")
        # (status, how many occurrences the pod's events count once it is reported)
        statuses = [
            (_container_status(waiting="ErrImagePull"), 1),  # Failed
            (_container_status(waiting="ImagePullBackOff"), 2),  # BackOff (pulling)
            (_container_status(cid="docker://a"), 5),  # Pulled (queued), Created, Started
            (_container_status(waiting="CrashLoopBackOff"), 6),  # BackOff (restarting)
            (_container_status(cid="docker://b"), 9),  # Pulled, Created, Started again
            (_container_status(waiting="CrashLoopBackOff"), 10),  # BackOff (restarting) again
        ]

        async def events() -> list[Obj]:
            listed = await admin.list(resource_path("events", namespace="default"))
            return [e for e in listed["items"] if e["involvedObject"].get("uid") == uid]

        for i, (status, total) in enumerate(statuses, start=1):
            agent.state.pods[uid] = PodRecord(
                pod=bound, source=SourceName.API, status=status, container_ids={}
            )
            if "containerID" in status["containerStatuses"][0]:  # as the executor records it
                agent.state.record_pod_event(uid, pulled_event("busybox:1", pulled=False))
            agent.state.changed.set()

            async def counted(total: int = total) -> bool:
                return sum(int(e["count"]) for e in await events()) >= total

            await wait_for(counted, timeout=15, message=f"events of status {i}")

        rows = sorted(await events(), key=lambda e: e["metadata"]["name"])
        assert [(e["reason"], e["message"].split(" ")[0], e["count"]) for e in rows] == [
            ("Failed", "Failed", 1),
            ("BackOff", "Back-off", 1),
            ("Pulled", "Container", 2),
            ("Created", "Created", 2),
            ("Started", "Started", 2),
            ("BackOff", "Back-off", 2),
        ]
        assert "restarting" in rows[5]["message"]
        assert all(e["metadata"]["name"].startswith("crashy.") for e in rows)


async def test_image_events_list_before_created_and_started(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """The executor's queued Pulling and Pulled are posted ahead of the status that shows the
    container (Created, Started), so `kubectl get events` lists them in that order; a static
    pod's wait for its mirror pod and are posted on it."""
    async with running_sync(agent_settings(server, tmp_path)) as agent:
        agent.state.sources_seen.add(SourceName.API)
        uid, bound = await create_bound(admin, agent.queue, "pulled")
        static = api_pod(f"logs-{NODE}")
        static["metadata"]["uid"] = "static-uid-2"
        agent.state.pods["static-uid-2"] = PodRecord(
            pod=static, source=SourceName.FILE, status={"phase": "Pending"}
        )
        agent.state.record_pod_event("static-uid-2", pulled_event("busybox", pulled=False))
        agent.state.record_pod_event(uid, pulling_event("busybox"))
        agent.state.record_pod_event(
            uid, pulled_event("busybox", pulled=True, seconds=1.5, size=2048)
        )
        agent.state.pods[uid] = PodRecord(
            pod=bound,
            source=SourceName.API,
            status=_container_status(cid="docker://a"),
        )
        agent.state.changed.set()

        async def events(name: str, total: int) -> list[Obj]:
            listed = await admin.list(resource_path("events", namespace="default"))
            mine = [e for e in listed["items"] if e["involvedObject"]["name"] == name]
            assert len(mine) >= total
            return sorted(mine, key=lambda e: e["metadata"]["name"])

        rows = await wait_for(lambda: events("pulled", 4), timeout=15, message="pod events")
        assert [(e["reason"], e["message"]) for e in rows] == [
            ("Pulling", 'Pulling image "busybox"'),
            (
                "Pulled",
                'Successfully pulled image "busybox" in 1.5s (1.5s including waiting).'
                " Image size: 2048 bytes.",
            ),
            ("Created", "Created container: c"),
            ("Started", "Started container c"),
        ]
        mirrored = await wait_for(
            lambda: events(f"logs-{NODE}", 1), timeout=15, message="static pod's event"
        )
        assert [e["message"] for e in mirrored] == [
            'Container image "busybox" already present on machine'
        ]
        assert mirrored[0]["involvedObject"]["uid"] != "static-uid-2"  # the mirror pod's
        assert not agent.state.pod_events


async def test_static_pod_is_mirrored_and_recreated(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """A static pod shows as a mirror pod with status; deleted by someone, it comes back."""
    async with running_sync(agent_settings(server, tmp_path)) as agent:
        pod = api_pod(f"logs-{NODE}")
        pod["metadata"]["uid"] = "static-uid-1"
        pod["metadata"]["annotations"] = {"kubernetes.io/config.hash": "static-uid-1"}
        agent.state.sources_expected = {SourceName.FILE}
        agent.state.sources_seen = {SourceName.FILE}
        agent.state.pods["static-uid-1"] = PodRecord(
            pod=pod, source=SourceName.FILE, status={"phase": "Running"}
        )
        agent.state.changed.set()
        path = resource_path("pods", namespace="default", name=f"logs-{NODE}")

        async def mirrored() -> Obj:
            got = await admin.get(path)  # NotFound until it is created: wait_for retries
            assert (got.get("status") or {}).get("phase") == "Running"
            return got

        mirror = await wait_for(mirrored, timeout=15, message="mirror pod with status")
        meta = mirror["metadata"]
        assert meta["annotations"]["kubernetes.io/config.mirror"] == "static-uid-1"
        assert meta["ownerReferences"][0]["kind"] == "Node"
        assert mirror["spec"]["nodeName"] == NODE
        await admin.delete(path, options={"gracePeriodSeconds": 0})

        async def recreated() -> bool:
            return bool((await mirrored())["metadata"]["uid"] != meta["uid"])

        await wait_for(recreated, timeout=15, message="mirror pod recreated")
        del agent.state.pods["static-uid-1"]
        agent.state.changed.set()

        async def removed() -> bool:
            try:
                await admin.get(path)
            except errors.NotFound:
                return True
            return False

        await wait_for(removed, timeout=15, message="mirror pod removed with its static pod")


def static_record(name: str, uid: str, **spec: Any) -> PodRecord:
    pod = api_pod(f"{name}-{NODE}")
    pod["metadata"]["uid"] = uid
    pod["metadata"]["annotations"] = {"kubernetes.io/config.hash": uid}
    pod["spec"].update(spec)
    return PodRecord(pod=pod, source=SourceName.FILE, status={"phase": "Running"})


async def test_refused_mirror_pod_is_asked_for_once_per_spec(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """A static pod referencing a ConfigMap: NodeRestriction refuses its mirror pod (the node
    graph would let the node read the ConfigMap through it); the agent says so once (a log line
    and a Warning event on the Node) and does not ask again until the pod's spec changes."""
    volume = {"name": "conf", "configMap": {"name": "app-conf"}}
    async with running_sync(agent_settings(server, tmp_path)) as agent:
        agent.state.sources_expected = {SourceName.FILE}
        agent.state.sources_seen = {SourceName.FILE}
        with structlog.testing.capture_logs() as logs:
            agent.state.pods["cm-uid-1"] = static_record("cm", "cm-uid-1", volumes=[volume])
            agent.state.changed.set()

            async def refusals() -> list[Obj]:
                listed = await admin.list(resource_path("events", namespace="default"))
                return [i for i in listed["items"] if i["reason"] == "FailedToCreateMirrorPod"]

            (event,) = await wait_for(refusals, timeout=15, message="the refusal is an event")
            assert event["type"] == "Warning"
            assert event["involvedObject"]["kind"] == "Node"
            assert "can not create pods that reference configmaps" in event["message"]

            # later passes (one of them mirrors another static pod) do not ask again
            agent.state.pods["plain-uid-1"] = static_record("plain", "plain-uid-1")
            agent.state.changed.set()
            plain = resource_path("pods", namespace="default", name=f"plain-{NODE}")
            await wait_for(lambda: admin.get(plain), timeout=15, message="plain is mirrored")
            refused = [e for e in logs if e["event"] == "mirror_pod_refused"]
            assert len(refused) == 1
            assert not [e for e in logs if e["event"] == "pod_sync_failed"]
            assert len(await refusals()) == 1

            # a new spec (without the reference) is asked for, and mirrored
            del agent.state.pods["cm-uid-1"]
            agent.state.pods["cm-uid-2"] = static_record("cm", "cm-uid-2")
            agent.state.changed.set()
            path = resource_path("pods", namespace="default", name=f"cm-{NODE}")
            mirror = await wait_for(lambda: admin.get(path), timeout=15, message="cm mirrored")
        assert mirror["metadata"]["annotations"]["kubernetes.io/config.mirror"] == "cm-uid-2"


async def test_manifest_rejection_becomes_a_warning_event(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """A rejected manifest is posted once as a Warning event about the Node."""
    from nodeagent.agent.sources.update import Rejected

    async with running_sync(agent_settings(server, tmp_path)) as agent:
        origin = "/etc/nodeagent/manifests/bad.yaml"
        agent.state.rejected[origin] = Rejected(origin=origin, error="bad.yaml:2:3: not YAML")
        agent.state.changed.set()

        async def events() -> list[Obj]:
            listed = await admin.list(resource_path("events", namespace="default"))
            return [e for e in listed["items"] if e.get("reason") == "FailedToLoadManifest"]

        (event,) = await wait_for(events, timeout=15, message="warning event posted")
        assert event["type"] == "Warning"
        assert event["involvedObject"]["kind"] == "Node"
        assert event["message"] == f"{origin}: bad.yaml:2:3: not YAML"


async def test_watch_expiry_leads_to_relist(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """A watch resumed from a version older than the server's window relists (410 Gone)."""
    with structlog.testing.capture_logs() as logs:
        async with running_sync(agent_settings(server, tmp_path), watch_timeout=1) as agent:
            await next_api_update(agent.queue)
            for i in range(60):  # more events than the server's window of 50
                await admin.create(PODS, api_pod(f"elsewhere-{i}", node="node-b"))
            await wait_for(
                lambda: any(e["event"] == "api_watch_expired" for e in logs),
                timeout=15,
                message="watch expired",
            )
            await admin.create(PODS, api_pod("late"))
            update = await next_api_update(agent.queue)
            assert [p["metadata"]["name"] for p in update.pods] == ["late"]
    lists = [e for e in logs if e["event"] == "api_pods_listed"]
    assert len(lists) >= 2


async def test_checkpoint_runs_pods_when_the_server_is_down(
    server: ServerInfo, admin: ApiClient, tmp_path: Path
) -> None:
    """Pods once received are sent from the checkpoint when the agent boots with no server."""
    settings = agent_settings(server, tmp_path)
    async with running_sync(settings) as agent:
        await admin.create(PODS, api_pod("web"))
        while not (await next_api_update(agent.queue)).pods:
            pass
        await wait_for(
            lambda: load_checkpoint(settings.state_dir), timeout=10, message="checkpointed"
        )
    away = agent_settings(server, tmp_path, server_url=f"https://127.0.0.1:{free_port()}")
    async with running_sync(away) as agent:
        update = await next_api_update(agent.queue)
        assert [p["metadata"]["name"] for p in update.pods] == ["web"]
        assert not agent.task.done()  # no server: the sync keeps trying, it does not fail


async def test_sync_recovers_after_the_server_restarts(tmp_path: Path) -> None:
    """A server that goes away and comes back gets the lease and status renewed again."""
    srv = start_server_process(tmp_path / "data")
    try:
        client = ApiClient(server_url=srv.url, token=srv.admin_token, ca_file=str(srv.ca_file))
        lease_path = resource_path("leases", namespace="kube-node-lease", name=NODE)
        async with running_sync(agent_settings(srv, tmp_path)) as agent:
            await wait_for(lambda: client.get(lease_path), timeout=15, message="lease exists")
            srv.kill()
            srv.restart()
            await client.close()
            client = ApiClient(server_url=srv.url, token=srv.admin_token, ca_file=str(srv.ca_file))
            restarted = format_time(time.time() + 1)

            async def renewed_after_restart() -> bool:
                renew = (await client.get(lease_path))["spec"]["renewTime"]
                return bool(renew[:19] + "Z" >= restarted)

            await wait_for(renewed_after_restart, timeout=20, message="lease renewed again")
            assert not agent.task.done()
        await client.close()
    finally:
        srv.stop()


async def test_queued_events_are_dropped_when_the_server_is_away(tmp_path: Path) -> None:
    """Image events are best effort: with no server answering, one pass of the pod sync
    empties the queue (one failed post, not one wait per event) and the statuses go on."""
    posts: list[str] = []

    class Counting(ApiClient):
        async def create(self, path: str, body: Obj) -> Obj:
            posts.append(path)
            return await super().create(path, body)

    client = Counting(server_url=f"https://127.0.0.1:{free_port()}", token="t", ca_file=None)
    state = AgentState(node_name=NODE)
    view = ServerPodsView(pods={"u1": {"metadata": {"name": "p", "uid": "u1"}}})
    state.pods["u1"] = PodRecord(pod=view.pods["u1"], source=SourceName.API, status={})
    for _ in range(3):
        state.record_pod_event("u1", pulling_event("busybox"))
    sync = PodSync(client=client, state=state, view=view, reporter=cast(NodeReporter, None))
    try:
        await sync._post_queued_events()
    finally:
        await client.close()
    assert not state.pod_events
    assert posts == ["/api/v1/namespaces/default/events"]
