"""The DaemonSet controller against the real server: the test plays the agents over REST."""

from __future__ import annotations

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from tests.integration.controllers.fleet import APIFailure, Fleet, daemonset_manifest, node_of
from tests.support.wait import wait_for

SEL = "name=fluentd"
TIMEOUT = 20.0


async def _pods_on(fleet: Fleet, nodes: set[str], selector: str = SEL) -> list[Obj] | None:
    pods = await fleet.live_pods(selector)
    return pods if sorted(node_of(p) for p in pods) == sorted(nodes) else None


async def _settled(fleet: Fleet, name: str, **expected: int) -> Obj | None:
    ds = await fleet.ds(name)
    status = ds.get("status") or {}
    if status.get("observedGeneration") != ds["metadata"]["generation"]:
        return None
    return ds if all(status.get(k) == v for k, v in expected.items()) else None


async def _ready_fleet(fleet: Fleet, nodes: list[str], manifest: Obj) -> Obj:
    for name in nodes:
        await fleet.add_node(name)
    ds = await fleet.create_ds(manifest)
    sel = f"name={manifest['metadata']['name']}"
    await wait_for(lambda: _pods_on(fleet, set(nodes), sel), timeout=TIMEOUT, message="pods")
    await fleet.agents_step(sel)
    await wait_for(
        lambda: _settled(fleet, ds["metadata"]["name"], numberAvailable=len(nodes)),
        timeout=TIMEOUT,
        message="all available",
    )
    return ds


async def test_create_makes_one_pod_per_node(fleet: Fleet) -> None:
    """A new DaemonSet: one pod per node, labelled, owned, tolerating; status counts them;
    revision 1 records the template."""
    ds = await _ready_fleet(fleet, ["n1", "n2", "n3"], daemonset_manifest())
    pods = await fleet.live_pods(SEL)
    assert len(pods) == 3
    [rev] = await fleet.revisions(SEL)
    hash_ = rev["metadata"]["labels"]["controller-revision-hash"]
    assert rev["metadata"]["name"] == f"fluentd-{hash_}"
    assert rev["revision"] == 1
    assert rev["metadata"]["ownerReferences"][0]["uid"] == ds["metadata"]["uid"]
    for pod in pods:
        assert pod["metadata"]["name"].startswith("fluentd-")
        assert pod["metadata"]["labels"]["controller-revision-hash"] == hash_
        assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
        [ref] = pod["metadata"]["ownerReferences"]
        assert ref["uid"] == ds["metadata"]["uid"]
        assert ref["controller"] is True
        assert ref["blockOwnerDeletion"] is True
        keys = {t.get("key") for t in pod["spec"]["tolerations"]}
        assert "node.kubernetes.io/unreachable" in keys
    final = await fleet.ds("fluentd")
    assert {
        k: final["status"][k] for k in ("desiredNumberScheduled", "currentNumberScheduled")
    } == {
        "desiredNumberScheduled": 3,
        "currentNumberScheduled": 3,
    }
    assert final["status"]["numberReady"] == 3
    assert final["status"]["updatedNumberScheduled"] == 3
    assert final["status"]["numberMisscheduled"] == 0
    assert final["status"]["numberUnavailable"] == 0
    events = await fleet.call(
        "GET", "/api/v1/namespaces/kube-system/events?fieldSelector=involvedObject.name%3Dfluentd"
    )
    created = [e for e in events["items"] if e["reason"] == "SuccessfulCreate"]
    assert sum(int(e.get("count") or 1) for e in created) == 3
    assert all(e["message"].startswith("Created pod: fluentd-") for e in created)


async def test_scale_out_and_in_by_labels(fleet: Fleet) -> None:
    """A node that joins (or gains the label) gets a pod; one that loses the label loses it."""
    manifest = daemonset_manifest(node_selector={"logging": "on"})
    await fleet.add_node("a", labels={"logging": "on"})
    await fleet.add_node("b")
    await fleet.create_ds(manifest)
    await wait_for(lambda: _pods_on(fleet, {"a"}), timeout=TIMEOUT, message="pod on a")
    await fleet.add_node("c", labels={"logging": "on"})
    await wait_for(lambda: _pods_on(fleet, {"a", "c"}), timeout=TIMEOUT, message="join")
    await fleet.label_node("b", {"logging": "on"})
    await wait_for(lambda: _pods_on(fleet, {"a", "b", "c"}), timeout=TIMEOUT, message="label")
    await fleet.label_node("a", {"logging": None})
    await wait_for(lambda: _pods_on(fleet, {"b", "c"}), timeout=TIMEOUT, message="unlabel")
    await fleet.agents_step(SEL)
    await wait_for(
        lambda: _settled(fleet, "fluentd", desiredNumberScheduled=2, numberMisscheduled=0),
        timeout=TIMEOUT,
        message="status after scale-in",
    )


async def _rollout_observer(fleet: Fleet, nodes: set[str], hash_: str) -> tuple[int, int, bool]:
    """(nodes without a Ready live pod, nodes with two live pods, done)."""
    pods = await fleet.live_pods(SEL)
    ready = {node_of(p) for p in pods if meta.is_pod_ready(p)}
    per_node = [node_of(p) for p in pods]
    doubled = sum(1 for n in nodes if per_node.count(n) > 1)
    done = len(pods) == len(nodes) and all(
        p["metadata"]["labels"].get("controller-revision-hash") == hash_ and meta.is_pod_ready(p)
        for p in pods
    )
    return len(nodes - ready), doubled, done


async def _drive_rollout(
    fleet: Fleet, nodes: set[str], *, max_unavailable: int, max_surge: int
) -> None:
    """Play the agents until every pod runs the new revision, checking the bounds each step."""
    hash_ = str(await wait_for(lambda: _new_hash(fleet), timeout=TIMEOUT, message="new revision"))
    steps = 0

    async def progressed() -> bool:
        nonlocal steps
        unavailable, doubled, done = await _rollout_observer(fleet, nodes, hash_)
        assert unavailable <= max_unavailable, f"{unavailable} nodes unavailable"
        assert doubled <= max_surge, f"{doubled} nodes with two pods"
        if not done:
            await fleet.agents_step(SEL)
            steps += 1
        return done

    await wait_for(progressed, timeout=60, interval=0.02, message="rollout finished")
    assert steps >= len(nodes)  # one node at a time: it took several rounds


async def _new_hash(fleet: Fleet) -> str | None:
    revs = await fleet.revisions(SEL)
    if len(revs) < 2:
        return None
    newest = max(revs, key=lambda r: r["revision"])
    return str(newest["metadata"]["labels"]["controller-revision-hash"])


async def test_rolling_update_max_unavailable_one(fleet: Fleet) -> None:
    """maxUnavailable 1: never more than one node without a Ready pod, never two pods."""
    await _ready_fleet(fleet, ["n1", "n2", "n3"], daemonset_manifest())
    await fleet.set_image("fluentd", "busybox:v2")
    await _drive_rollout(fleet, {"n1", "n2", "n3"}, max_unavailable=1, max_surge=0)
    await wait_for(
        lambda: _settled(fleet, "fluentd", updatedNumberScheduled=3, numberAvailable=3),
        timeout=TIMEOUT,
        message="status after rollout",
    )


async def test_rolling_update_max_surge_one(fleet: Fleet) -> None:
    """maxSurge 1 (maxUnavailable 0): every node keeps a Ready pod; one node at a time has two."""
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    await _ready_fleet(fleet, ["n1", "n2", "n3"], daemonset_manifest(strategy=strategy))
    await fleet.set_image("fluentd", "busybox:v2")
    await _drive_rollout(fleet, {"n1", "n2", "n3"}, max_unavailable=0, max_surge=1)


async def test_rollback_reuses_the_previous_revision(fleet: Fleet) -> None:
    """Undo (kubectl's PATCH of the old revision's data) reuses that revision object with the
    next revision number, and the pods go back to its hash."""
    await _ready_fleet(fleet, ["n1", "n2"], daemonset_manifest())
    [first] = await fleet.revisions(SEL)
    await fleet.set_image("fluentd", "busybox:v2")
    await _drive_rollout(fleet, {"n1", "n2"}, max_unavailable=1, max_surge=0)
    revs = await fleet.revisions(SEL)
    assert sorted(r["revision"] for r in revs) == [1, 2]
    old = next(r for r in revs if r["revision"] == 1)
    import json

    body = json.dumps(old["data"], separators=(",", ":"), sort_keys=True).encode()
    await fleet.patch_ds("fluentd", body, "application/strategic-merge-patch+json")

    async def reused() -> list[Obj] | None:
        now = await fleet.revisions(SEL)
        byname = {r["metadata"]["name"]: r["revision"] for r in now}
        return now if byname.get(first["metadata"]["name"]) == 3 and len(now) == 2 else None

    await wait_for(reused, timeout=TIMEOUT, message="revision 1 reused as 3")
    old_hash = first["metadata"]["labels"]["controller-revision-hash"]
    await _drive_rollout_to(fleet, {"n1", "n2"}, old_hash)
    ds = await fleet.ds("fluentd")
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:v1"


async def _drive_rollout_to(fleet: Fleet, nodes: set[str], hash_: str) -> None:
    async def done() -> bool:
        _, _, finished = await _rollout_observer(fleet, nodes, hash_)
        if not finished:
            await fleet.agents_step(SEL)
        return finished

    await wait_for(done, timeout=60, interval=0.02, message=f"pods on {hash_}")


async def test_on_delete_replaces_only_deleted_pods(fleet: Fleet) -> None:
    """OnDelete: a template change deletes nothing; a pod the user deletes comes back new."""
    await _ready_fleet(fleet, ["n1", "n2"], daemonset_manifest(strategy={"type": "OnDelete"}))
    before = {p["metadata"]["name"] for p in await fleet.live_pods(SEL)}
    await fleet.set_image("fluentd", "busybox:v2")
    await wait_for(
        lambda: _settled(fleet, "fluentd", updatedNumberScheduled=0, currentNumberScheduled=2),
        timeout=TIMEOUT,
        message="update observed",
    )
    assert {p["metadata"]["name"] for p in await fleet.live_pods(SEL)} == before
    victim = next(p for p in await fleet.live_pods(SEL) if node_of(p) == "n1")
    await fleet.force_delete_pod(victim["metadata"]["name"])
    new_hash = str(await wait_for(lambda: _new_hash(fleet), timeout=TIMEOUT, message="revision 2"))

    async def replaced() -> bool:
        pods = await fleet.live_pods(SEL)
        on_n1 = [p for p in pods if node_of(p) == "n1"]
        return (
            len(on_n1) == 1
            and on_n1[0]["metadata"]["labels"]["controller-revision-hash"] == new_hash
        )

    await wait_for(replaced, timeout=TIMEOUT, message="n1 replaced with the new template")
    n2 = [p for p in await fleet.live_pods(SEL) if node_of(p) == "n2"]
    assert [p["metadata"]["name"] for p in n2] == [
        n for n in before if n != victim["metadata"]["name"]
    ]


async def test_orphan_then_adopt_and_replace(fleet: Fleet) -> None:
    """Delete with Orphan leaves the pods without owner; a new DaemonSet with the same selector
    adopts them, and replaces them because its template differs."""
    await _ready_fleet(fleet, ["n1", "n2"], daemonset_manifest())
    names = {p["metadata"]["name"] for p in await fleet.live_pods(SEL)}
    await fleet.delete_ds("fluentd", policy="Orphan")

    async def orphaned() -> bool:
        pods = await fleet.live_pods(SEL)
        return {p["metadata"]["name"] for p in pods} == names and all(
            not p["metadata"].get("ownerReferences") for p in pods
        )

    await wait_for(orphaned, timeout=TIMEOUT, message="pods orphaned")
    with_new_image = daemonset_manifest(image="busybox:v2")
    await _wait_gone(fleet, "fluentd")
    ds = await fleet.create_ds(with_new_image)

    async def adopted() -> bool:
        pods = await fleet.pods(SEL)
        return bool(pods) and all(
            (meta.controller_ref(p) or {}).get("uid") == ds["metadata"]["uid"] for p in pods
        )

    await wait_for(adopted, timeout=TIMEOUT, message="pods adopted")
    # the orphaned revision is adopted too (revision 1); the new template is revision 2
    new_hash = str(await wait_for(lambda: _new_hash(fleet), timeout=TIMEOUT, message="revision 2"))
    await _drive_rollout_to(fleet, {"n1", "n2"}, new_hash)
    assert not names & {p["metadata"]["name"] for p in await fleet.live_pods(SEL)}


async def _wait_gone(fleet: Fleet, name: str) -> None:
    async def gone() -> bool:
        try:
            await fleet.ds(name)
        except APIFailure as exc:
            return exc.status == 404
        return False

    await wait_for(gone, timeout=TIMEOUT, message=f"daemonset {name} deleted")


async def test_failed_pod_is_replaced(fleet: Fleet) -> None:
    """A pod the agent reports Failed is deleted and a new one created on its node."""
    await _ready_fleet(fleet, ["n1"], daemonset_manifest())
    [pod] = await fleet.live_pods(SEL)
    pod["status"] = {"phase": "Failed"}
    await fleet.call(
        "PUT", f"/api/v1/namespaces/kube-system/pods/{pod['metadata']['name']}/status", pod
    )

    async def replaced() -> bool:
        await fleet.agents_step(SEL)
        pods = await fleet.live_pods(SEL)
        return len(pods) == 1 and pods[0]["metadata"]["name"] != pod["metadata"]["name"]

    await wait_for(replaced, timeout=TIMEOUT, message="failed pod replaced")


async def test_min_ready_seconds_counts_available_later(fleet: Fleet) -> None:
    """With minReadySeconds, Ready pods become available only later, with no further event:
    the controller looks again by itself."""
    await fleet.add_node("n1")
    await fleet.create_ds(daemonset_manifest(min_ready_seconds=2))
    await wait_for(lambda: _pods_on(fleet, {"n1"}), timeout=TIMEOUT, message="pod")
    await fleet.agents_step(SEL)
    ready = await wait_for(
        lambda: _settled(fleet, "fluentd", numberReady=1), timeout=TIMEOUT, message="ready"
    )
    assert ready["status"]["numberAvailable"] == 0
    await wait_for(
        lambda: _settled(fleet, "fluentd", numberReady=1, numberAvailable=1),
        timeout=TIMEOUT,
        message="available after minReadySeconds",
    )
