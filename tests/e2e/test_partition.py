"""Hosts cut off the server with iptables in their network namespaces (issues 8 and 19).

Kubernetes' durations are scaled by the fleet's node-monitor grace / 40 s (Kubernetes'
default): on the shared fleet (12 s) a 30 s cut lasts 9 s, 70 s 21 s, 400 s 120 s (that one
only with NODEAGENT_FAULT_LONG=1). With NODEAGENT_FAULT_REAL_DURATIONS=1 the cases get a fleet
of their own with Kubernetes' timings (40 s grace, heartbeats every 10 s) and run for 30, 70
and 400 s. A cut shorter than the grace (DROP, REJECT) and a lossy link keep nodes Ready; cuts
past it make them Unknown and tainted while their daemons run on, and they reconverge with the
same pods and containers; every node cut off at once is full disruption: the NoExecute taints
come off and nothing is evicted. A link that flaps (cut for grace / 6, open for as long, for
1.5 graces: 2 s each way for 18 s on the shared fleet) keeps its node Ready through a rolling
update."""

from __future__ import annotations

import os
import time

import pytest
import yaml

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import parse_time
from tests.e2e.conftest import REAL_DURATIONS
from tests.e2e.harness import Fleet, Host
from tests.e2e.reading import example_daemonset, pod_ready, wait_for
from tests.faults.serverfaults import cut_link, flapping_link, heal_link
from tests.support.podman import tag_image

pytestmark = pytest.mark.e2e
UNREACHABLE = "node.kubernetes.io/unreachable"
K8S_GRACE = 40.0  # kube-controller-manager's --node-monitor-grace-period default
LONG = os.environ.get("NODEAGENT_FAULT_LONG") == "1"


def _node(fleet: Fleet, name: str) -> Obj:
    return fleet.kubectl_json("get", "node", name)


def _ready_status(node: Obj) -> str:
    conds = node.get("status", {}).get("conditions", [])
    return next((str(c["status"]) for c in conds if c["type"] == "Ready"), "")


def _unreachable(node: Obj) -> set[str]:
    """The effects of the node's unreachable taints."""
    return {t["effect"] for t in node.get("spec", {}).get("taints", []) if t["key"] == UNREACHABLE}


def _pods_by_node(fleet: Fleet, selector: str) -> dict[str, list[tuple[str, str]]]:
    """node -> [(pod name, uid)] of the DaemonSet's pods."""
    out: dict[str, list[tuple[str, str]]] = {}
    for p in fleet.pods(selector):
        out.setdefault(p["spec"]["nodeName"], []).append(
            (p["metadata"]["name"], p["metadata"]["uid"])
        )
    return out


def _ready_everywhere(fleet: Fleet, selector: str) -> bool:
    return len([p for p in fleet.pods(selector) if pod_ready(p)]) == len(fleet.workers)


def _renewed(fleet: Fleet, name: str) -> float:
    """When the node's Lease was last renewed (the server's record)."""
    lease = fleet.kubectl_json("get", "lease", "-n", "kube-node-lease", name)
    return parse_time(str(lease["spec"]["renewTime"]))


def _server_ip(fleet: Fleet) -> str:
    return f"{fleet.subnet}.1"


def _scaled(real_seconds: float, grace: float) -> float:
    """Kubernetes' `real_seconds` (against its 40 s node-monitor grace) on a fleet whose grace
    is `grace`."""
    return real_seconds * grace / K8S_GRACE


def _containers_of(host: Host, prefix: str) -> list[Obj]:
    """Every app container, running or not, of pods named `prefix`*."""
    return [
        c
        for c in host.containers(all_=True)
        if str((c.get("Labels") or {}).get("io.nodeagent.pod.name", "")).startswith(prefix)
    ]


def _containers(host: Host, prefix: str) -> list[tuple[str, str]]:
    """(id, StartedAt) of every container, running or not, of pods named `prefix`*."""
    return sorted((str(c["Id"]), str(c.get("StartedAt"))) for c in _containers_of(host, prefix))


def test_cuts_shorter_than_the_grace_and_a_lossy_link_keep_nodes_ready(
    timed_fleet: tuple[Fleet, float],
) -> None:
    """Kubernetes' 30 s cut, under its 40 s grace, scaled by the fleet's grace / 40 (9 s on
    the shared fleet's 12 s grace; 30 s with NODEAGENT_FAULT_REAL_DURATIONS=1): node1's
    packets to the server dropped and master's refused (TCP reset), node2's dropped at random
    (30 %) meanwhile: every node stays Ready all along (renewals get through once the link is
    back, in time), and each worker keeps exactly one pod, the same, with the same container
    (retried writes duplicate nothing)."""
    fleet, grace = timed_fleet
    cut = _scaled(30, grace)
    with fleet.daemonset(example_daemonset("ds-lossy", image=fleet.image)):
        wait_for(lambda: _ready_everywhere(fleet, "name=ds-lossy"), timeout=60, message="ready")
        fleet.wait_ready([h.name for h in fleet.hosts], timeout=60)
        before = _pods_by_node(fleet, "name=ds-lossy")
        master, node1, node2 = fleet.host("master"), fleet.host("node1"), fleet.host("node2")
        containers = {h.name: _containers(h, "ds-lossy") for h in (node1, node2)}
        cut_link(node1.netns, _server_ip(fleet), "DROP")
        cut_link(master.netns, _server_ip(fleet), "REJECT")
        cut_link(node2.netns, _server_ip(fleet), "LOSSY")
        try:
            started = time.monotonic()
            while time.monotonic() < started + cut + 1:
                if time.monotonic() > started + cut:
                    heal_link(node1.netns)
                    heal_link(master.netns)
                for host in (master, node1, node2):
                    status = _ready_status(_node(fleet, host.name))
                    assert status == "True", f"{host.name} left Ready"
                time.sleep(0.5)
        finally:
            for host in (master, node1, node2):
                heal_link(host.netns)
        # each lease renewed after the heal, late but inside the grace, and the node lifecycle
        # controller's next pass (grace / 4) past that: still Ready
        healed, renewed_at = time.time(), 0.0
        deadline = time.monotonic() + 2 * grace
        while not renewed_at or time.monotonic() < renewed_at + grace / 4 + 1:
            for host in (master, node1, node2):
                assert _ready_status(_node(fleet, host.name)) == "True", f"{host.name} left Ready"
            if not renewed_at and all(_renewed(fleet, h.name) > healed for h in fleet.hosts):
                renewed_at = time.monotonic()
            assert time.monotonic() < deadline, "the leases were not renewed after the heal"
            time.sleep(0.5)
        assert _pods_by_node(fleet, "name=ds-lossy") == before
        assert {h.name: _containers(h, "ds-lossy") for h in (node1, node2)} == containers
        for host in (node1, node2):
            assert len(host.running("ds-lossy")) == 1


LONG_CASES = [
    pytest.param(70, id="70s"),
    pytest.param(
        400,
        id="400s",
        marks=[
            pytest.mark.skipif(
                not (LONG or REAL_DURATIONS),
                reason="10 graces long: NODEAGENT_FAULT_LONG=1 (scaled) or "
                "NODEAGENT_FAULT_REAL_DURATIONS=1 (400 s)",
            ),
            pytest.mark.timeout(900),  # 400 s and the heal, at real durations
        ],
    ),
]


@pytest.mark.parametrize("real_seconds", LONG_CASES)
def test_cuts_past_the_grace_keep_the_daemons_and_reconverge(
    timed_fleet: tuple[Fleet, float], real_seconds: int
) -> None:
    """Kubernetes' 70 s and 400 s cuts, scaled by the fleet's grace / 40 (21 s and 120 s on
    the shared fleet's 12 s grace; the real durations with NODEAGENT_FAULT_REAL_DURATIONS=1):
    node1's packets to the server dropped, node2's refused (TCP reset), at once.

    70 s is past the 40 s grace: each node goes Ready True -> Unknown with the unreachable
    NoSchedule and NoExecute taints (master stays Ready: no full disruption) while its pod
    runs on. 400 s is past the 300 s NoExecute toleration that DefaultTolerationSeconds gives
    ordinary pods; the template here asks for just that (scaled), and the DaemonSet
    controller replaces it with its own, without tolerationSeconds, so nothing is evicted or
    recreated however long the cut. Healed: Ready True, the taints gone, the same pods (no
    duplicate from a retried create), the same containers never restarted, none extra."""
    fleet, grace = timed_fleet
    cut = _scaled(real_seconds, grace)
    hosts = (fleet.host("node1"), fleet.host("node2"))
    ds = yaml.safe_load(example_daemonset("ds-cut", image=fleet.image))
    ds["spec"]["template"]["spec"]["tolerations"] = [
        {
            "key": UNREACHABLE,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": round(_scaled(300, grace)),
        }
    ]
    with fleet.daemonset(yaml.safe_dump(ds)):
        wait_for(lambda: _ready_everywhere(fleet, "name=ds-cut"), timeout=60, message="ready")
        fleet.wait_ready([h.name for h in fleet.hosts], timeout=60)
        pods = fleet.pods("name=ds-cut")
        for pod in pods:
            [tol] = [t for t in pod["spec"]["tolerations"] if t.get("key") == UNREACHABLE]
            assert "tolerationSeconds" not in tol  # tolerated forever
        before = _pods_by_node(fleet, "name=ds-cut")
        containers = {h.name: _containers(h, "ds-cut") for h in hosts}
        assert all(len(c) == 1 for c in containers.values())
        seen: dict[str, list[str]] = {h.name: ["True"] for h in hosts}

        def observe() -> None:
            for host in hosts:
                status = _ready_status(_node(fleet, host.name))
                if seen[host.name][-1] != status:
                    seen[host.name].append(status)
                assert [c["Id"] for c in host.running("ds-cut")] == [containers[host.name][0][0]]
            assert _ready_status(_node(fleet, "master")) == "True"

        cut_link(hosts[0].netns, _server_ip(fleet), "DROP")
        cut_link(hosts[1].netns, _server_ip(fleet), "REJECT")
        try:
            started = time.monotonic()
            tainted = False
            while time.monotonic() < started + cut:
                observe()
                if not tainted and all(
                    _unreachable(_node(fleet, h.name)) == {"NoSchedule", "NoExecute"} for h in hosts
                ):
                    tainted = True
                assert _pods_by_node(fleet, "name=ds-cut") == before
                time.sleep(1)
            assert tainted, "the unreachable taints never came"
            assert all(seen[h.name] == ["True", "Unknown"] for h in hosts), seen
        finally:
            for host in hosts:
                heal_link(host.netns)
        wait_for(
            lambda: all(
                _ready_status(n := _node(fleet, h.name)) == "True" and not _unreachable(n)
                for h in hosts
            ),
            timeout=max(60, 2 * grace),
            message="node1 and node2 Ready again and untainted",
        )
        observe()
        assert all(seen[h.name] == ["True", "Unknown", "True"] for h in hosts), seen
        wait_for(lambda: _ready_everywhere(fleet, "name=ds-cut"), timeout=60, message="ready")
        assert _pods_by_node(fleet, "name=ds-cut") == before
        assert {h.name: _containers(h, "ds-cut") for h in hosts} == containers
        for host in hosts:
            [cid] = [c["Id"] for c in host.running("ds-cut")]
            restarts = host.podman("inspect", "--format", "{{.RestartCount}}", cid).stdout
            assert restarts.strip() == "0"


def test_every_node_cut_off_at_once_evicts_nothing(fleet: Fleet) -> None:
    """All hosts' packets to the server dropped past the grace: every node Unknown, and the
    node lifecycle controller's full disruption lifts the unreachable:NoExecute taint from
    each (the NoSchedule one stays); no pod is deleted or replaced and every container runs
    on; healed, all Ready and untainted with the same pods and containers."""
    with fleet.daemonset(example_daemonset("ds-alloff", image=fleet.image)):
        wait_for(lambda: _ready_everywhere(fleet, "name=ds-alloff"), timeout=60, message="ready")
        before = _pods_by_node(fleet, "name=ds-alloff")
        containers = {h.name: [c["Id"] for c in h.running("ds-alloff")] for h in fleet.workers}
        for host in fleet.hosts:
            cut_link(host.netns, _server_ip(fleet), "DROP")
        try:
            wait_for(
                lambda: all(_ready_status(_node(fleet, h.name)) == "Unknown" for h in fleet.hosts),
                timeout=60,
                message="every node Unknown",
            )
            wait_for(
                lambda: all(
                    _unreachable(_node(fleet, h.name)) == {"NoSchedule"} for h in fleet.hosts
                ),
                timeout=30,
                message="every node tainted unreachable:NoSchedule, none :NoExecute",
            )
            assert _pods_by_node(fleet, "name=ds-alloff") == before
        finally:
            for host in fleet.hosts:
                heal_link(host.netns)
        fleet.wait_ready([h.name for h in fleet.hosts], timeout=60)
        wait_for(
            lambda: not any(_unreachable(_node(fleet, h.name)) for h in fleet.hosts),
            timeout=30,
            message="the unreachable taints gone",
        )
        assert _pods_by_node(fleet, "name=ds-alloff") == before
        assert {h.name: [c["Id"] for c in h.running("ds-alloff")] for h in fleet.workers} == (
            containers
        )


def _rolled(container: Obj) -> bool:
    return str((container.get("Labels") or {}).get("io.nodeagent.pod.name", "")).startswith(
        "ds-flaproll-"
    )


def test_a_flapping_link_keeps_the_node_ready_through_a_rolling_update(
    timed_fleet: tuple[Fleet, float],
) -> None:
    """node1's packets to the server dropped for grace / 6, let through for as long, over and
    over for 1.5 graces (2 s each way for 18 s on the shared fleet's 12 s grace; 6.7 s each
    way for 60 s with NODEAGENT_FAULT_REAL_DURATIONS=1), while on node1 one DaemonSet just
    runs and another is rolled to a new image (`kubectl set image`). Throughout: node1 stays
    Ready, its Lease renewed in the open windows (the flapping outlasts the grace: the node
    stays Ready only because renewals get through); the running DaemonSet keeps its pod and
    its very container; the updated one
    never has two pods on the node nor two containers running (the agent's writes that a cut
    interrupted are retried, and a retried create or status write duplicates nothing). Once
    the link holds: the update rolled out, its one pod Ready with one container of the new
    image, made once; the other pod the same, its container never restarted."""
    fleet, grace = timed_fleet
    node1 = fleet.host("node1")
    new_image = "localhost/busybox:2"
    assert node1.podman_service is not None
    tag_image(node1.podman_service, fleet.image, new_image)
    on_node1 = {"kubernetes.io/hostname": "node1"}
    steady = example_daemonset("ds-flap", image=fleet.image, node_selector=on_node1)
    rolled = example_daemonset("ds-flaproll", image=fleet.image, node_selector=on_node1)
    selector = "name in (ds-flap,ds-flaproll)"

    def pods() -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {"ds-flap": [], "ds-flaproll": []}
        for p in fleet.pods(selector):
            out[p["metadata"]["labels"]["name"]].append(p)
        return out

    def ready() -> bool:
        now = pods()
        return all(len(ps) == 1 and pod_ready(ps[0]) for ps in now.values())

    with fleet.daemonset(steady), fleet.daemonset(rolled):
        wait_for(ready, timeout=60, message="ds-flap and ds-flaproll ready on node1")
        fleet.wait_ready(["node1"], timeout=60)
        [steady_pod] = pods()["ds-flap"]
        steady_containers = _containers(node1, "ds-flap-")
        assert len(steady_containers) == 1
        renewals: set[float] = set()
        with flapping_link(node1.netns, _server_ip(fleet), down=grace / 6, up=grace / 6) as flaps:
            fleet.kubectl("set", "image", "ds/ds-flaproll", f"daemonset-example={new_image}")
            until = time.monotonic() + 1.5 * grace
            while time.monotonic() < until:
                assert _ready_status(_node(fleet, "node1")) == "True", "node1 left Ready"
                renewals.add(_renewed(fleet, "node1"))
                now = pods()
                assert [p["metadata"]["uid"] for p in now["ds-flap"]] == [
                    steady_pod["metadata"]["uid"]
                ]
                assert len(now["ds-flaproll"]) <= 1, "two ds-flaproll pods on node1"
                running = node1.running("ds-flap")  # both DaemonSets' pods
                rolling = [c["Id"] for c in running if _rolled(c)]
                assert len(rolling) <= 1, f"two ds-flaproll containers running: {rolling}"
                assert steady_containers[0][0] in [c["Id"] for c in running], "ds-flap stopped"
                time.sleep(0.5)
            cuts = flaps.cuts
        assert cuts >= 3, f"the link was cut {cuts} times"
        # renewed in the open windows: renewals seen while it flapped
        assert len(renewals) >= 3, renewals
        done = fleet.kubectl("rollout", "status", "ds/ds-flaproll", "--timeout=90s")
        assert "successfully rolled out" in done.stdout
        wait_for(ready, timeout=60, message="ds-flap and ds-flaproll ready on node1")
        assert _ready_status(_node(fleet, "node1")) == "True"
        now = pods()
        assert [p["metadata"]["uid"] for p in now["ds-flap"]] == [steady_pod["metadata"]["uid"]]
        assert _containers(node1, "ds-flap-") == steady_containers
        [pod] = now["ds-flaproll"]
        assert pod["spec"]["containers"][0]["image"] == new_image
        made = [
            c
            for c in _containers_of(node1, "ds-flaproll-")
            if (c.get("Labels") or {}).get("io.nodeagent.pod.uid") == pod["metadata"]["uid"]
        ]
        assert len(made) == 1, made  # created once, never again
        [now_running] = node1.running("ds-flaproll-")
        assert now_running["Id"] == made[0]["Id"]
        assert now_running["Image"] == new_image
