"""RollingUpdate step by step: maxUnavailable, maxSurge, minReadySeconds, OnDelete."""

from __future__ import annotations

import copy
import itertools

import pytest

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.server.controllers.daemonset import plan, rollout, strategy
from nodeagent.server.controllers.daemonset.history import current_hash
from tests.unit.controllers.objects import NOW, daemonset, names, node, pod_for, with_image

_ids = itertools.count(1)


class Cluster:
    """Plays the API server and the agents around the pure decisions."""

    def __init__(self, ds: Obj, node_count: int) -> None:
        self.ds = ds
        self.nodes = [node(f"n{i}") for i in range(node_count)]
        self.pods = [pod_for(ds, n["metadata"]["name"]) for n in self.nodes]
        self.now = NOW

    def available_nodes(self) -> int:
        min_ready = int(self.ds["spec"].get("minReadySeconds") or 0)
        up = {plan.node_of(p) for p in self.pods if meta.is_pod_available(p, min_ready, self.now)}
        return len(up)

    def sync(self) -> tuple[list[str], list[str]]:
        """One controller pass: manage, and the rollout only when manage had nothing to do."""
        hash_ = current_hash(self.ds)
        managed = plan.manage(
            ds=self.ds,
            nodes=self.nodes,
            daemon_pods=self.pods,
            hash_=hash_,
            backoff={},
            now=self.now,
        )
        deletes, creates = managed.delete, managed.create_on
        if not deletes and not creates:
            rolled = rollout.rolling_update(
                ds=self.ds, nodes=self.nodes, daemon_pods=self.pods, hash_=hash_, now=self.now
            )
            deletes, creates = rolled.delete, rolled.create_on
        gone = {p["metadata"]["uid"] for p in deletes}
        self.pods = [p for p in self.pods if p["metadata"]["uid"] not in gone]
        for node_name in creates:
            pod = plan.new_pod(self.ds, node_name=node_name, hash_=hash_)
            n = next(_ids)
            pod["metadata"].update(
                name=f"new-{n}", uid=f"uid-new-{n}", creationTimestamp=format_time(self.now)
            )
            pod["status"] = {"phase": "Pending"}
            self.pods.append(pod)
        return names(deletes), sorted(creates)

    def agents_mark_ready(self) -> None:
        for pod in self.pods:
            if not meta.is_pod_ready(pod):
                pod["status"] = {
                    "phase": "Running",
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "lastTransitionTime": format_time(self.now),
                        }
                    ],
                }

    def updated(self) -> int:
        hash_ = current_hash(self.ds)
        return sum(1 for p in self.pods if plan.is_pod_updated(p, hash_))


def test_max_unavailable_one_replaces_one_node_at_a_time() -> None:
    """With maxUnavailable 1 exactly one old pod goes at a time, and the next only after the
    new pod is Ready."""
    cluster = Cluster(daemonset(), 3)
    cluster.ds = with_image(cluster.ds, "fluentd:v2")
    deleted, created = cluster.sync()
    assert len(deleted) == 1
    assert created == []
    assert cluster.available_nodes() == 2
    deleted, created = cluster.sync()  # manage recreates on the emptied node
    assert deleted == []
    assert len(created) == 1
    assert cluster.sync() == ([], [])  # the new pod is not Ready yet: nothing more
    cluster.agents_mark_ready()
    deleted, created = cluster.sync()
    assert len(deleted) == 1


@pytest.mark.parametrize(
    ("strategy", "nodes", "bound"),
    [
        ({"maxUnavailable": 1, "maxSurge": 0}, 4, 1),
        ({"maxUnavailable": 2, "maxSurge": 0}, 5, 2),
        ({"maxUnavailable": "50%", "maxSurge": 0}, 5, 3),  # 2.5 rounds up
        ({"maxUnavailable": "10%", "maxSurge": 0}, 5, 1),
    ],
    ids=["one", "two", "fifty-percent", "ten-percent"],
)
def test_rollout_never_exceeds_max_unavailable(strategy: Obj, nodes: int, bound: int) -> None:
    """Driving a whole rollout, unavailable nodes never exceed maxUnavailable, and every node
    ends on the new template."""
    ds = daemonset(strategy={"type": "RollingUpdate", "rollingUpdate": strategy})
    cluster = Cluster(ds, nodes)
    cluster.ds = with_image(ds, "fluentd:v2")
    for _ in range(100):
        cluster.sync()
        assert nodes - cluster.available_nodes() <= bound
        cluster.sync()
        assert nodes - cluster.available_nodes() <= bound
        cluster.agents_mark_ready()
        if cluster.updated() == nodes and cluster.available_nodes() == nodes:
            break
    assert cluster.updated() == nodes
    assert len(cluster.pods) == nodes


def test_max_surge_one_starts_new_pod_beside_old() -> None:
    """With maxSurge 1 a new pod starts next to the old one; the old one goes only when the
    new one is available; at most one node has two pods; availability never drops."""
    ds = daemonset(
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    cluster = Cluster(ds, 3)
    cluster.ds = with_image(ds, "fluentd:v2")
    deleted, created = cluster.sync()
    assert deleted == []
    assert len(created) == 1
    assert cluster.sync() == ([], [])  # waiting for the surged pod
    for _ in range(20):
        cluster.agents_mark_ready()
        cluster.sync()
        per_node = [plan.node_of(p) for p in cluster.pods]
        assert sum(1 for n in set(per_node) if per_node.count(n) > 1) <= 1
        assert cluster.available_nodes() == 3
        if cluster.updated() == 3 and len(cluster.pods) == 3:
            break
    assert cluster.updated() == 3
    assert len(cluster.pods) == 3


def test_min_ready_seconds_holds_the_rollout() -> None:
    """A new pod Ready for less than minReadySeconds still counts as unavailable."""
    ds = daemonset(min_ready_seconds=30)
    cluster = Cluster(ds, 2)
    cluster.ds = with_image(ds, "fluentd:v2")
    cluster.sync()
    cluster.sync()
    cluster.agents_mark_ready()
    cluster.now += 10
    assert cluster.sync() == ([], [])
    cluster.now += 25
    deleted, _ = cluster.sync()
    assert len(deleted) == 1


def test_unavailable_old_pod_is_replaced_at_once() -> None:
    """Old pods that are not Ready are replaced without waiting for the budget."""
    ds = daemonset()
    cluster = Cluster(ds, 3)
    for pod in cluster.pods[:2]:
        pod["status"]["conditions"][0]["status"] = "False"
    cluster.ds = with_image(ds, "fluentd:v2")
    deleted, _ = cluster.sync()
    assert len(deleted) == 2


def test_on_delete_replaces_only_deleted_pods() -> None:
    """OnDelete: the template change deletes nothing; a deleted pod comes back new."""
    ds = daemonset(strategy={"type": "OnDelete"})
    cluster = Cluster(ds, 2)
    cluster.ds = with_image(ds, "fluentd:v2")
    hash_ = current_hash(cluster.ds)
    managed = plan.manage(
        ds=cluster.ds,
        nodes=cluster.nodes,
        daemon_pods=cluster.pods,
        hash_=hash_,
        backoff={},
        now=NOW,
    )
    assert managed.delete == []
    assert managed.create_on == []
    assert strategy.surge_count(cluster.ds, 2) == 0
    assert strategy.unavailable_count(cluster.ds, 2) == 0
    survivors = [p for p in cluster.pods if plan.node_of(p) != "n0"]
    managed = plan.manage(
        ds=cluster.ds, nodes=cluster.nodes, daemon_pods=survivors, hash_=hash_, backoff={}, now=NOW
    )
    assert managed.create_on == ["n0"]
    new = plan.new_pod(cluster.ds, node_name="n0", hash_=hash_)
    assert plan.is_pod_updated(new, hash_)


def test_surge_keeps_two_pods_until_new_is_available() -> None:
    """manage() with surge allows one old and one new pod on a node until the new one is
    available, then deletes the old one."""
    ds = daemonset(
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    old = pod_for(ds, "a")
    new_ds = with_image(ds, "v2")
    new = pod_for(new_ds, "a", ready=False, created=NOW - 5)
    hash_ = current_hash(new_ds)
    kept = plan.manage(
        ds=new_ds, nodes=[node("a")], daemon_pods=[old, new], hash_=hash_, backoff={}, now=NOW
    )
    assert kept.delete == []
    ready_new = copy.deepcopy(new)
    ready_new["status"]["conditions"][0]["status"] = "True"
    done = plan.manage(
        ds=new_ds, nodes=[node("a")], daemon_pods=[old, ready_new], hash_=hash_, backoff={}, now=NOW
    )
    assert names(done.delete) == names([old])
