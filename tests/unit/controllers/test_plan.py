"""manage(): which daemon pods a DaemonSet creates and deletes, node by node."""

from __future__ import annotations

from collections.abc import Mapping

from nodeagent.api.bodies import Obj
from nodeagent.api.meta import MIRROR_ANNOTATION
from nodeagent.server.controllers.daemonset import plan
from tests.unit.controllers.objects import NOW, daemonset, names, node, pod_for

MASTER_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def _manage(
    ds: Obj,
    nodes: list[Obj],
    pods: list[Obj],
    *,
    backoff: Mapping[str, plan.BackoffEntry] | None = None,
    now: float = NOW,
) -> plan.ManagePlan:
    from nodeagent.server.controllers.daemonset.history import current_hash

    return plan.manage(
        ds=ds,
        nodes=nodes,
        daemon_pods=pods,
        hash_=current_hash(ds),
        backoff=backoff or {},
        now=now,
    )


def test_creates_one_pod_on_every_eligible_node() -> None:
    """A new DaemonSet gets a pod on each node, none where one already runs."""
    ds = daemonset()
    nodes = [node("a"), node("b"), node("c")]
    result = _manage(ds, nodes, [pod_for(ds, "b")])
    assert sorted(result.create_on) == ["a", "c"]
    assert result.delete == []


def test_no_pod_on_tainted_master_unless_tolerated() -> None:
    """A NoSchedule control-plane taint keeps the daemon off, unless the template tolerates it
    (seed 004's fluentd does)."""
    nodes = [node("master", taints=[MASTER_TAINT]), node("worker")]
    assert _manage(daemonset(), nodes, []).create_on == ["worker"]
    tolerating = daemonset(
        tolerations=[
            {
                "key": "node-role.kubernetes.io/control-plane",
                "operator": "Exists",
                "effect": "NoSchedule",
            }
        ]
    )
    assert sorted(_manage(tolerating, nodes, []).create_on) == ["master", "worker"]


def test_node_selector_adds_and_removes() -> None:
    """Only labelled nodes get a pod; a node that loses the label loses its pod."""
    ds = daemonset(node_selector={"disktype": "ssd"})
    ssd, hdd = node("ssd", labels={"disktype": "ssd"}), node("hdd")
    assert _manage(ds, [ssd, hdd], []).create_on == ["ssd"]
    stale = pod_for(ds, "hdd")
    result = _manage(ds, [ssd, hdd], [pod_for(ds, "ssd"), stale])
    assert result.create_on == []
    assert names(result.delete) == names([stale])


def test_required_node_affinity_decides() -> None:
    """Required node affinity selects nodes like nodeSelector does."""
    ds = daemonset()
    ds["spec"]["template"]["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}
                ]
            }
        }
    }
    assert _manage(ds, [node("a", labels={"zone": "z1"}), node("b")], []).create_on == ["a"]


def test_noexecute_taint_evicts_noschedule_keeps() -> None:
    """An untolerated NoExecute taint deletes the running pod; NoSchedule keeps it running."""
    ds = daemonset()
    evict = node("x", taints=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}])
    keep = node("y", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    on_x, on_y = pod_for(ds, "x"), pod_for(ds, "y")
    result = _manage(ds, [evict, keep], [on_x, on_y])
    assert names(result.delete) == names([on_x])
    assert result.create_on == []


def test_node_condition_taints_are_tolerated() -> None:
    """The automatic tolerations let daemon pods onto pressured, cordoned and not-ready nodes,
    and keep a running pod on an unreachable node (its NoSchedule taint only blocks new pods)."""
    ds = daemonset()
    pressured = node(
        "pressured",
        taints=[
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/pid-pressure", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
        ],
    )
    assert _manage(ds, [pressured], []).create_on == ["pressured"]
    unreachable = node(
        "gone",
        taints=[
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
        ],
    )
    assert _manage(ds, [unreachable], []).create_on == []
    assert _manage(ds, [unreachable], [pod_for(ds, "gone")]).delete == []


def test_duplicates_keep_the_oldest() -> None:
    """Two pods on one node: the newer one goes."""
    ds = daemonset()
    old = pod_for(ds, "a", created=NOW - 100)
    young = pod_for(ds, "a", created=NOW - 10)
    assert names(_manage(ds, [node("a")], [young, old]).delete) == names([young])


def test_terminating_pod_blocks_create_and_is_not_deleted_again() -> None:
    """A pod being deleted is neither counted as running nor replaced until it is gone."""
    ds = daemonset()
    result = _manage(ds, [node("a")], [pod_for(ds, "a", terminating=True)])
    assert result.create_on == []
    assert result.delete == []


def test_failed_pod_deleted_with_backoff() -> None:
    """A failed pod is deleted with a FailedDaemonPod message; within the backoff it is left."""
    ds = daemonset()
    failed = pod_for(ds, "a", phase="Failed")
    first = _manage(ds, [node("a")], [failed])
    assert names(first.delete) == names([failed])
    assert "will try to kill it" in first.failed[0].message()
    assert "on node a" in first.failed[0].message()
    again = _manage(ds, [node("a")], [failed], backoff=first.backoff, now=NOW + 0.5)
    assert again.delete == []
    assert again.requeue_after is not None
    assert 0 < again.requeue_after <= 1.0
    later = _manage(ds, [node("a")], [failed], backoff=first.backoff, now=NOW + 1.5)
    assert names(later.delete) == names([failed])
    key = plan.backoff_key(ds, "a")
    assert later.backoff[key].delay == 2.0


def test_backoff_doubles_to_fifteen_minutes() -> None:
    """Failed-pod backoff doubles from 1 s and stops at 15 min."""
    entry = None
    delays = []
    now = NOW
    for _ in range(15):
        entry = plan.next_backoff(entry, now)
        delays.append(entry.delay)
        now += entry.delay
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(delays) == 900.0


def test_claim_adopts_matching_orphans_and_releases_mismatches() -> None:
    """Orphans with the selector's labels are adopted; our pods without them are released;
    another controller's pods and mirror pods are left alone."""
    ds = daemonset()
    orphan = pod_for(ds, "a")
    orphan["metadata"]["ownerReferences"] = []
    ours_mismatch = pod_for(ds, "b")
    ours_mismatch["metadata"]["labels"] = {"name": "other"}
    theirs = pod_for(ds, "c")
    theirs["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    mirror = pod_for(ds, "d")
    mirror["metadata"]["ownerReferences"] = []
    mirror["metadata"]["annotations"] = {MIRROR_ANNOTATION: "x"}
    mine = pod_for(ds, "e")
    claim = plan.claim_pods(ds, [orphan, ours_mismatch, theirs, mirror, mine])
    assert names(claim.adopt) == names([orphan])
    assert names(claim.release) == names([ours_mismatch])
    assert names(claim.owned) == names([orphan, mine])
    adopted = plan.adopted(orphan, ds)
    assert adopted["metadata"]["ownerReferences"] == [plan.owner_reference(ds)]
    assert plan.released(ours_mismatch, ds)["metadata"]["ownerReferences"] == []


def test_new_pod_shape() -> None:
    """The created pod: generateName, nodeName, labels, controller ownerReference, tolerations."""
    ds = daemonset()
    ds["metadata"]["annotations"] = {plan.TEMPLATE_GENERATION_ANNOTATION: "3"}
    pod = plan.new_pod(ds, node_name="n1", hash_="abc123")
    assert pod["metadata"]["generateName"] == "fluentd-"
    assert pod["metadata"]["namespace"] == "kube-system"
    assert pod["spec"]["nodeName"] == "n1"
    assert pod["metadata"]["labels"] == {
        "name": "fluentd",
        "controller-revision-hash": "abc123",
        "pod-template-generation": "3",
    }
    assert pod["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "name": "fluentd",
            "uid": "uid-ds-fluentd",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    keys = {(t.get("key"), t.get("effect")) for t in pod["spec"]["tolerations"]}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in keys
    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    assert "tolerations" not in ds["spec"]["template"]["spec"]
