"""The pod side's plan: which statuses, mirror pods, deletes and events go to the server."""

from __future__ import annotations

from typing import Any

from nodeagent.agent.podsyncplan import (
    CreateMirror,
    DeletePod,
    PostEvent,
    PostKilling,
    PutStatus,
    Reported,
    mirror_pod,
    plan_pod_sync,
)
from nodeagent.agent.sources.update import SourceName
from nodeagent.agent.state import PodRecord
from nodeagent.api.bodies import Obj

RUNNING: Obj = {"phase": "Running"}


def pod(name: str, uid: str, **meta: Any) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": uid, **meta},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def static(name: str, uid: str) -> PodRecord:
    p = pod(name, uid, annotations={"kubernetes.io/config.hash": uid})
    return PodRecord(pod=p, source=SourceName.FILE, status=RUNNING, container_ids={"c": "id1"})


def mirror(name: str, uid: str, config_hash: str, **meta: Any) -> Obj:
    return pod(name, uid, annotations={"kubernetes.io/config.mirror": config_hash}, **meta)


def plan(
    records: dict[str, PodRecord],
    server: dict[str, Obj],
    reported: Reported | None = None,
    rejected: dict[str, str] | None = None,
    *,
    synced: bool = True,
) -> list[Any]:
    return plan_pod_sync(
        records=records,
        server_pods=server,
        server_synced=synced,
        static_sources_synced=synced,
        api_seen=synced,
        reported=reported or Reported(),
        rejected=rejected or {},
        now=0.0,
    )


READY: Obj = {
    "phase": "Running",
    "conditions": [
        {"type": "Ready", "status": "True"},
        {"type": "ContainersReady", "status": "True"},
    ],
}


def with_status(p: Obj, status: Obj) -> Obj:
    return {**p, "status": status}


def test_api_pod_status_sent_once_per_change() -> None:
    """An API pod's status is sent when it differs from what was last sent, and only then."""
    rec = PodRecord(pod=pod("web", "u1"), source=SourceName.API, status=RUNNING)
    server = {"u1": pod("web", "u1")}
    assert plan({"u1": rec}, server) == [
        PutStatus(namespace="default", name="web", uid="u1", status=RUNNING)
    ]
    server = {"u1": with_status(pod("web", "u1"), RUNNING)}
    assert plan({"u1": rec}, server, Reported(statuses={"u1": RUNNING})) == []


def test_api_pod_marked_not_ready_on_the_server_gets_its_status_again() -> None:
    """After a partition the node-lifecycle controller set Ready False on the server; the agent
    sends its own status again although it already sent that one, as kubelet does."""
    rec = PodRecord(pod=pod("web", "u1"), source=SourceName.API, status=READY)
    marked = {
        **READY,
        "conditions": [{"type": "Ready", "status": "False"}, READY["conditions"][1]],
    }
    server = {"u1": with_status(pod("web", "u1"), marked)}
    assert plan({"u1": rec}, server, Reported(statuses={"u1": READY})) == [
        PutStatus(namespace="default", name="web", uid="u1", status=READY)
    ]
    failed = {"u1": with_status(pod("web", "u1"), {**READY, "phase": "Failed"})}
    assert len(plan({"u1": rec}, failed, Reported(statuses={"u1": READY}))) == 1


def test_what_the_server_adds_to_a_status_causes_no_write() -> None:
    """Conditions and fields the agent does not set are not compared: no write loop."""
    rec = PodRecord(pod=pod("web", "u1"), source=SourceName.API, status=READY)
    extra = {
        **READY,
        "conditions": [*READY["conditions"], {"type": "DisruptionTarget", "status": "True"}],
        "nominatedNodeName": "x",
    }
    server = {"u1": with_status(pod("web", "u1"), extra)}
    assert plan({"u1": rec}, server, Reported(statuses={"u1": READY})) == []


def test_api_pod_missing_on_server_gets_no_status() -> None:
    """A pod the server no longer has is not written to."""
    rec = PodRecord(pod=pod("web", "u1"), source=SourceName.API, status=RUNNING)
    assert plan({"u1": rec}, {}) == []


def test_static_pod_gets_a_mirror_then_its_status() -> None:
    """A static pod without a mirror pod gets one; once mirrored, its status follows."""
    rec = static("logs-node-a", "s1")
    assert plan({"s1": rec}, {}) == [CreateMirror(uid="s1")]
    server = {"m1": mirror("logs-node-a", "m1", "s1")}
    assert plan({"s1": rec}, server) == [
        PutStatus(namespace="default", name="logs-node-a", uid="m1", status=RUNNING)
    ]


def test_refused_mirror_is_not_asked_for_again_until_the_spec_changes() -> None:
    """A mirror pod the server refused (403) is not created again for the same config hash;
    a static pod of another hash is."""
    reported = Reported(mirror_refused={"s1": "s1"})
    assert plan({"s1": static("web-n1", "s1")}, {}, reported) == []
    assert plan({"s2": static("web-n1", "s2")}, {}, reported) == [CreateMirror(uid="s2")]


def test_mirror_pod_status_changed_on_the_server_is_sent_again() -> None:
    """A mirror pod the server shows NotReady gets the static pod's status again."""
    rec = PodRecord(
        pod=static("logs-node-a", "s1").pod, source=SourceName.FILE, status=READY, container_ids={}
    )
    marked = {**READY, "conditions": [{"type": "Ready", "status": "False"}]}
    server = {"m1": with_status(mirror("logs-node-a", "m1", "s1"), marked)}
    assert plan({"s1": rec}, server, Reported(statuses={"m1": READY})) == [
        PutStatus(namespace="default", name="logs-node-a", uid="m1", status=READY)
    ]
    server = {"m1": with_status(mirror("logs-node-a", "m1", "s1"), READY)}
    assert plan({"s1": rec}, server, Reported(statuses={"m1": READY})) == []


def test_no_mirror_before_the_server_view_is_synced() -> None:
    """Until the pods on the server were listed, no mirror pod is created (no duplicates)."""
    assert plan({"s1": static("logs-node-a", "s1")}, {}, synced=False) == []


def test_outdated_or_terminating_mirror_is_replaced() -> None:
    """A mirror pod of an older manifest, or one being deleted, is deleted (to be recreated)."""
    rec = static("logs-node-a", "s2")
    old = {"m1": mirror("logs-node-a", "m1", "s1")}
    assert plan({"s2": rec}, old) == [
        DeletePod(namespace="default", name="logs-node-a", uid="m1", why="mirror pod outdated")
    ]
    dying = {"m1": mirror("logs-node-a", "m1", "s2", deletionTimestamp="2026-01-01T00:00:00Z")}
    assert [type(a) for a in plan({"s2": rec}, dying)] == [DeletePod]


def test_orphan_mirror_is_deleted_only_after_sources_seen() -> None:
    """A mirror pod whose static pod is gone is deleted, but not before the sources synced."""
    server = {"m1": mirror("gone-node-a", "m1", "s9")}
    assert plan({}, server) == [
        DeletePod(namespace="default", name="gone-node-a", uid="m1", why="static pod gone")
    ]
    assert plan({}, server, synced=False) == []


def test_deletion_confirmed_once_containers_are_gone() -> None:
    """A terminating API pod gets kubelet's Killing events once while its containers stop,
    and is deleted on the server only when its containers are gone."""
    terminating = pod("web", "u1", deletionTimestamp="2026-01-01T00:00:00Z")
    server = {"u1": with_status(terminating, RUNNING)}
    running = PodRecord(
        pod=server["u1"],
        source=SourceName.API,
        status=RUNNING,
        container_ids={"c": "x", "b": "y"},
    )
    actions = plan({"u1": running}, server, Reported(statuses={"u1": RUNNING}))
    assert actions == [PostKilling(uid="u1", containers=("b", "c"))]
    told = Reported(statuses={"u1": RUNNING}, killing={"u1"})
    assert plan({"u1": running}, server, told) == []
    done: Obj = {"phase": "Succeeded"}
    server = {"u1": with_status(terminating, done)}
    stopped = PodRecord(pod=server["u1"], source=SourceName.API, status=done)
    actions = plan({"u1": stopped}, server, Reported(statuses={"u1": done}))
    assert actions == [
        DeletePod(namespace="default", name="web", uid="u1", why="containers stopped")
    ]
    assert plan({}, server, Reported(deleting={"u1"})) == []


def test_rejected_manifest_gets_one_event_per_error() -> None:
    """Each rejected manifest is reported once; a new error for it is reported again."""
    rejected = {"/etc/nodeagent/manifests/bad.yaml": "bad.yaml:3:1: not valid YAML"}
    assert plan({}, {}, rejected=rejected) == [
        PostEvent(origin="/etc/nodeagent/manifests/bad.yaml", error="bad.yaml:3:1: not valid YAML")
    ]
    seen = Reported(rejections=dict(rejected))
    assert plan({}, {}, seen, rejected=rejected) == []


def test_mirror_pod_shape() -> None:
    """The mirror pod keeps the spec, is bound to the node, annotated and owned by the Node."""
    rec = static("logs-node-a", "s1")
    owner = {"apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "n1"}
    body = mirror_pod(rec, node_name="node-a", node_owner=owner)
    assert body["metadata"]["annotations"]["kubernetes.io/config.mirror"] == "s1"
    assert body["metadata"]["ownerReferences"] == [{**owner, "controller": True}]
    assert "uid" not in body["metadata"]
    assert body["spec"]["nodeName"] == "node-a"
    assert body["spec"]["containers"] == rec.pod["spec"]["containers"]
