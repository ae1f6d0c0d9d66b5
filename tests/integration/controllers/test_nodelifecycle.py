"""Node lifecycle and pod GC against the real server, with a 2 s node grace."""

from __future__ import annotations

import time

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from tests.integration.controllers.fleet import APIFailure, Fleet, daemonset_manifest, node_of
from tests.support.wait import wait_for

SEL = "name=fluentd"
TIMEOUT = 20.0
UNREACHABLE = {
    ("node.kubernetes.io/unreachable", "NoSchedule"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
}


def _taints(node: Obj) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


async def _pod_on(fleet: Fleet, node: str) -> Obj | None:
    pods = [p for p in await fleet.live_pods(SEL) if node_of(p) == node]
    return pods[0] if len(pods) == 1 else None


async def test_lease_expiry_makes_node_unknown_and_keeps_daemon_pod(
    short_grace_fleet: Fleet,
) -> None:
    """A node whose lease is not renewed goes Ready=Unknown with the unreachable taints; its
    daemon pod stays (it tolerates them); renewing and reporting Ready clears the taints."""
    fleet = short_grace_fleet
    await fleet.add_node("quiet")
    await fleet.add_node("busy")
    await fleet.create_ds(daemonset_manifest())

    async def pods_and_busy_alive() -> Obj | None:
        await fleet.renew_lease("busy")
        await fleet.agents_step(SEL)
        return await _pod_on(fleet, "quiet")

    pod = await wait_for(pods_and_busy_alive, timeout=TIMEOUT, message="daemon pod on quiet")

    assert pod is not None

    async def unknown() -> Obj | None:
        await fleet.renew_lease("busy")
        node = await fleet.node("quiet")
        ready = meta.get_condition(node.get("status") or {}, "Ready")
        if ready is None or ready.get("status") != "Unknown" or not _taints(node) >= UNREACHABLE:
            return None
        return node

    node = await wait_for(unknown, timeout=TIMEOUT, message="quiet goes Unknown and tainted")

    assert node is not None
    ready = meta.get_condition(node["status"], "Ready")
    assert ready is not None
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    for type_ in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        cond = meta.get_condition(node["status"], type_)
        assert cond is not None
        assert cond["status"] == "Unknown"
    no_execute = [t for t in node["spec"]["taints"] if t["effect"] == "NoExecute"]
    assert no_execute[0].get("timeAdded")
    busy = await fleet.node("busy")
    assert not _taints(busy)

    async def seen_by_daemonset() -> bool:
        await fleet.renew_lease("busy")
        ds = await fleet.ds("fluentd")
        return (ds.get("status") or {}).get("numberMisscheduled") == 1

    await wait_for(seen_by_daemonset, timeout=TIMEOUT, message="DS controller saw the taint")
    still = await _pod_on(fleet, "quiet")
    assert still is not None
    assert still["metadata"]["uid"] == pod["metadata"]["uid"]
    assert not meta.is_pod_ready(still)  # marked NotReady as its node stopped reporting

    await fleet.renew_lease("quiet")
    node = await fleet.node("quiet")
    now = format_time(time.time())
    for cond in node["status"]["conditions"]:
        cond.update(status="False", reason="KubeletHasNoPressure", lastHeartbeatTime=now)
        if cond["type"] == "Ready":
            cond.update(status="True", reason="KubeletReady")
    await fleet.call("PUT", "/api/v1/nodes/quiet/status", node)

    async def healthy() -> bool:
        await fleet.renew_lease("quiet")
        await fleet.renew_lease("busy")
        return not _taints(await fleet.node("quiet"))

    await wait_for(healthy, timeout=TIMEOUT, message="taints removed once the node reports again")


async def test_pods_of_deleted_node_are_collected(short_grace_fleet: Fleet) -> None:
    """After its node is deleted, a bound pod is force-deleted once the quarantine passes."""
    fleet = short_grace_fleet
    await fleet.add_node("doomed")
    await fleet.create_ds(daemonset_manifest())
    pod = await wait_for(lambda: _pod_on(fleet, "doomed"), timeout=TIMEOUT, message="pod")

    assert pod is not None
    await fleet.delete_node("doomed")

    async def collected() -> bool:
        try:
            await fleet.call(
                "GET", f"/api/v1/namespaces/kube-system/pods/{pod['metadata']['name']}"
            )
        except APIFailure as exc:
            return exc.status == 404
        return False

    await wait_for(collected, timeout=TIMEOUT, message="pod of the deleted node removed")
    ds = await fleet.ds("fluentd")
    assert (ds.get("status") or {}).get("desiredNumberScheduled", 0) == 0


async def test_cordon_adds_unschedulable_taint_and_daemon_pods_stay(
    short_grace_fleet: Fleet,
) -> None:
    """Cordoning taints the node unschedulable:NoSchedule; daemon pods still run there."""
    fleet = short_grace_fleet
    await fleet.add_node("c1")
    await fleet.create_ds(daemonset_manifest())

    async def pod_alive() -> Obj | None:
        await fleet.renew_lease("c1")
        return await _pod_on(fleet, "c1")

    pod = await wait_for(pod_alive, timeout=TIMEOUT, message="pod on c1")

    assert pod is not None
    await fleet.call(
        "PATCH",
        "/api/v1/nodes/c1",
        {"spec": {"unschedulable": True}},
        content_type="application/strategic-merge-patch+json",
    )

    async def tainted() -> bool:
        await fleet.renew_lease("c1")
        return ("node.kubernetes.io/unschedulable", "NoSchedule") in _taints(await fleet.node("c1"))

    await wait_for(tainted, timeout=TIMEOUT, message="cordon taint")
    still = await _pod_on(fleet, "c1")
    assert still is not None
    assert still["metadata"]["uid"] == pod["metadata"]["uid"]
