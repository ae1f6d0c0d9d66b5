"""Safer rollouts on real hosts (issue 18, docs/rollouts.md): a crash-looping image halts after
the first node and reverts by itself; a partitioned node is skipped and caught up; canary nodes
go first; pause stops between two nodes. Real agents, podman and kubectl; short deadlines set
through the rollout.nodeagent.io/ annotations."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import parse_time
from tests.e2e.harness import Fleet
from tests.e2e.reading import example_daemonset, pod_ready, wait_for
from tests.support.podman import busybox_image, tag_image

pytestmark = pytest.mark.e2e
P = "rollout.nodeagent.io/"
GOOD = "localhost/rollout:good"
CRASH = "localhost/rollout:crash"
NEW = "localhost/busybox:rollout-2"
SLEEPER = 'ENTRYPOINT ["/bin/sh", "-c", "trap \'exit 0\' TERM; while true; do sleep 1; done"]'
CRASHER = 'ENTRYPOINT ["/bin/sh", "-c", "echo crashing; exit 3"]'


@pytest.fixture(scope="module")
def images(fleet: Fleet) -> None:
    """On every host: a daemon image that runs, one that exits at once, and a second tag of
    the fleet's image (a new image that works)."""
    for host in fleet.hosts:
        assert host.podman_service is not None
        busybox_image(host.podman_service, GOOD, changes=(SLEEPER,))
        busybox_image(host.podman_service, CRASH, changes=(CRASHER,))
        tag_image(host.podman_service, fleet.image, NEW)


def _daemonset(name: str, *, image: str, annotations: dict[str, str], **spec: object) -> str:
    ds = yaml.safe_load(example_daemonset(name, image=image))
    ds["metadata"]["annotations"] = annotations
    ds["spec"].update(spec)
    ds["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 2
    if image == GOOD:
        del ds["spec"]["template"]["spec"]["containers"][0]["command"]
    return str(yaml.safe_dump(ds, sort_keys=False))


def _ds(fleet: Fleet, name: str) -> Obj:
    return fleet.kubectl_json("get", "ds", name)


def _condition(ds: Obj, type_: str) -> Obj:
    found = [c for c in ds.get("status", {}).get("conditions", []) if c["type"] == type_]
    return found[0] if found else {}


def _pod_on(fleet: Fleet, name: str, node: str) -> Obj | None:
    pods = [
        p
        for p in fleet.pods(f"name={name}")
        if p["spec"]["nodeName"] == node and not p["metadata"].get("deletionTimestamp")
    ]
    return pods[0] if len(pods) == 1 else None


def _image_on(fleet: Fleet, name: str, node: str) -> str:
    pod = _pod_on(fleet, name, node)
    return pod["spec"]["containers"][0]["image"] if pod and pod_ready(pod) else ""


def _all_ready(fleet: Fleet, name: str, image: str) -> bool:
    return all(_image_on(fleet, name, h.name) == image for h in fleet.workers)


def _container_ids(fleet: Fleet, node: str, prefix: str) -> set[str]:
    return {c["Id"] for c in fleet.host(node).running(prefix)}


def test_crash_looping_image_halts_after_the_first_node_and_reverts(
    fleet: Fleet, images: None
) -> None:
    """auto-revert on: `kubectl set image` to an image that exits at once replaces node1 only;
    the rollout halts (node2's container is never touched), the old template is written back,
    `kubectl rollout history` lists it as the newest revision, `kubectl describe` shows why,
    and `kubectl rollout status` then finishes on the old image. minReadySeconds (Nomad's
    min_healthy_time) keeps a pod that is ready for an instant before it crashes from passing
    as available."""
    name = "ds-guard-revert"
    text = _daemonset(
        name,
        image=GOOD,
        annotations={P + "auto-revert": "true", P + "progress-deadline-seconds": "60"},
        minReadySeconds=8,
    )
    with fleet.daemonset(text):
        wait_for(lambda: _all_ready(fleet, name, GOOD), timeout=60, message="ready on workers")
        fleet.kubectl("rollout", "status", f"ds/{name}", "--timeout=60s")
        wait_for(
            lambda: (
                _condition(_ds(fleet, name), "Progressing").get("reason") == "NewRevisionAvailable"
            ),
            timeout=30,
            message="revision 1 complete",
        )
        node2_before = _container_ids(fleet, "node2", name + "-")
        fleet.kubectl("set", "image", f"ds/{name}", f"daemonset-example={CRASH}")
        rolled_back = wait_for(
            lambda: _condition(_ds(fleet, name), "RolledBack"),
            timeout=60,
            message="the controller reverted",
        )
        assert rolled_back["status"] == "True"
        assert "Reverted from revision 2" in rolled_back["message"]
        assert "node1:" in rolled_back["message"]
        assert "node2:" not in rolled_back["message"]
        done = fleet.kubectl("rollout", "status", f"ds/{name}", "--timeout=60s")
        assert "successfully rolled out" in done.stdout
        wait_for(lambda: _all_ready(fleet, name, GOOD), timeout=60, message="back on GOOD")
        assert _container_ids(fleet, "node2", name + "-") == node2_before
        history = fleet.kubectl("rollout", "history", f"ds/{name}").stdout
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == [
            "2",
            "3",
        ]
        template = _ds(fleet, name)["spec"]["template"]["spec"]["containers"][0]
        assert template["image"] == GOOD
        described = fleet.kubectl("describe", "ds", name).stdout
        assert "RolloutHalted" in described
        assert "RolloutReverted" in described
        revisions = fleet.kubectl_json("get", "controllerrevisions", "-l", f"name={name}")
        bad = next(r for r in revisions["items"] if CRASH in json.dumps(r["data"]))
        assert "node1:" in bad["metadata"]["annotations"][P + "halted"]


def test_partitioned_node_is_skipped_then_caught_up(fleet: Fleet, images: None) -> None:
    """Default policy: with node2 cut off, an update completes on node1, Progressing names
    node2 as waiting, node2's container runs on untouched; after healing node2 is updated
    and the rollout completes."""
    name = "ds-guard-partition"
    with fleet.daemonset(_daemonset(name, image=fleet.image, annotations={})):
        wait_for(lambda: _all_ready(fleet, name, fleet.image), timeout=60, message="ready")
        host = fleet.host("node2")
        before = _container_ids(fleet, "node2", name + "-")
        fleet.partition(host)
        try:
            wait_for(
                lambda: (
                    "unreachable"
                    in json.dumps(fleet.kubectl_json("get", "node", "node2")["spec"].get("taints"))
                ),
                timeout=60,
                message="node2 unreachable",
            )
            fleet.kubectl("set", "image", f"ds/{name}", f"daemonset-example={NEW}")
            waiting = wait_for(
                lambda: (
                    (c := _condition(_ds(fleet, name), "Progressing")).get("reason")
                    == "WaitingForUnreachableNodes"
                    and c
                ),
                timeout=60,
                message="rolled out on the reachable node",
            )
            assert "node2" in waiting["message"]
            assert _image_on(fleet, name, "node1") == NEW
            assert _container_ids(fleet, "node2", name + "-") == before
        finally:
            fleet.heal(host)
        wait_for(lambda: _all_ready(fleet, name, NEW), timeout=90, message="node2 caught up")
        wait_for(
            lambda: (
                _condition(_ds(fleet, name), "Progressing").get("reason") == "NewRevisionAvailable"
            ),
            timeout=30,
            message="complete everywhere",
        )


def test_canary_node_goes_first_and_the_rest_wait_for_the_soak(fleet: Fleet, images: None) -> None:
    """canary-nodes selects node2: it takes the new image first, node1 keeps its old pod until
    node2's new pod has been ready for the soak time (8 s), then follows."""
    name = "ds-guard-canary"
    fleet.kubectl("label", "node", "node2", "rollout-canary=true")
    annotations = {P + "canary-nodes": "rollout-canary=true", P + "soak-seconds": "8"}
    try:
        with fleet.daemonset(_daemonset(name, image=fleet.image, annotations=annotations)):
            wait_for(lambda: _all_ready(fleet, name, fleet.image), timeout=60, message="ready")
            fleet.kubectl("set", "image", f"ds/{name}", f"daemonset-example={NEW}")
            wait_for(lambda: _image_on(fleet, name, "node2") == NEW, timeout=60, message="canary")
            old = _pod_on(fleet, name, "node1")
            assert old is not None
            assert old["spec"]["containers"][0]["image"] == fleet.image
            message = _condition(_ds(fleet, name), "Progressing")["message"]
            assert "canary phase" in message
            wait_for(lambda: _all_ready(fleet, name, NEW), timeout=60, message="the rest follow")
            canary = _pod_on(fleet, name, "node2")
            follower = _pod_on(fleet, name, "node1")
            assert canary is not None
            assert follower is not None
            ready = next(c for c in canary["status"]["conditions"] if c["type"] == "Ready")
            created = parse_time(follower["metadata"]["creationTimestamp"])
            assert created >= parse_time(ready["lastTransitionTime"]) + 8
    finally:
        fleet.kubectl("label", "node", "node2", "rollout-canary-")


def test_pause_stops_between_two_nodes_and_resume_finishes(fleet: Fleet, images: None) -> None:
    """Paused once node1 has its new pod (`paused=yes` is first refused with a 422 naming the
    annotation): node1's new pod becomes available and node2 keeps its old one (Progressing
    Unknown DaemonSetPaused; `kubectl describe` shows the annotation and a RolloutPaused
    event); resuming finishes the rollout."""
    name = "ds-guard-pause"
    with fleet.daemonset(_daemonset(name, image=fleet.image, annotations={}, minReadySeconds=6)):
        wait_for(lambda: _all_ready(fleet, name, fleet.image), timeout=60, message="ready")
        fleet.kubectl("rollout", "status", f"ds/{name}", "--timeout=60s")  # available
        node2_before = _container_ids(fleet, "node2", name + "-")
        fleet.kubectl("set", "image", f"ds/{name}", f"daemonset-example={NEW}")
        wait_for(
            lambda: (
                (p := _pod_on(fleet, name, "node1")) is not None
                and p["spec"]["containers"][0]["image"] == NEW
            ),
            timeout=60,
            message="node1's new pod",
        )
        refused = fleet.kubectl("annotate", f"ds/{name}", f"{P}paused=yes", check=False)
        assert refused.returncode != 0  # a 422 naming the annotation; nothing stored
        assert f"metadata.annotations[{P}paused]" in refused.stderr
        assert 'supported values: "true", "false"' in refused.stderr
        fleet.kubectl("annotate", f"ds/{name}", f"{P}paused=true")
        fleet.kubectl(  # kubectl wait reads the DaemonSet's conditions
            "wait", f"ds/{name}", "--for=condition=Progressing=Unknown", "--timeout=30s"
        )
        wait_for(
            lambda: (
                (ds := _ds(fleet, name))
                and _condition(ds, "Progressing").get("reason") == "DaemonSetPaused"
                and ds["status"].get("numberAvailable") == 2
            ),
            timeout=60,
            message="paused with node1's new pod available",
        )
        assert _image_on(fleet, name, "node2") == fleet.image
        assert _container_ids(fleet, "node2", name + "-") == node2_before
        described = fleet.kubectl("describe", "ds", name).stdout
        assert f"{P}paused: true" in described
        assert "RolloutPaused" in described
        fleet.kubectl("annotate", f"ds/{name}", f"{P}paused=false", "--overwrite")
        wait_for(lambda: _all_ready(fleet, name, NEW), timeout=60, message="both on NEW")


@pytest.fixture(scope="module")
def prometheus(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's prometheus on the port the fleet's server asks, scraping every agent's
    /metrics each second on its TLS port (with the server's kubelet-client certificate: the
    plain port serves /metrics to its own host only); yields its URL once every target is up."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("needs Debian's prometheus (scripts/test.sh installs it)")
    base = tmp_path_factory.mktemp("prometheus")
    assert fleet.server is not None
    targets = [f"{h.ip}:10250" for h in fleet.hosts]
    server_dir = fleet.server.data_dir
    tls = {
        "ca_file": str(fleet.server.ca_file),
        "cert_file": str(server_dir / "kubelet-client.crt"),
        "key_file": str(server_dir / "kubelet-client.key"),
    }
    job = {
        "job_name": "nodeagent",
        "scheme": "https",
        "tls_config": tls,
        "static_configs": [{"targets": targets}],
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [job],
    }
    (base / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{fleet.prometheus_port}"
    log = (base / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={base / 'prometheus.yml'}",
         f"--storage.tsdb.path={base / 'data'}",
         f"--web.listen-address=127.0.0.1:{fleet.prometheus_port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    fleet.remember_process(process)
    try:
        wait_for(
            lambda: _query(url, "sum(up)") == float(len(targets)),
            timeout=60,
            message="prometheus scraping every agent",
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _query(url: str, expr: str) -> float | None:
    """One instant query's single value, None when Prometheus has none (yet)."""
    try:
        with urllib.request.urlopen(
            f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout=5
        ) as answer:
            body = json.loads(answer.read())
    except OSError:
        return None
    result = body.get("data", {}).get("result") or []
    return float(result[0]["value"][1]) if result else None


def test_metric_gate_halts_after_the_first_node_and_reverts(
    fleet: Fleet, images: None, prometheus: str
) -> None:
    """metric-query `sum(nodeagent_manifest_errors)` bounded by 0, asked of a real Prometheus
    scraping the agents: with the bound broken (a bad manifest on the control-plane host) an
    update replaces node1, the gate halts it there and auto-revert writes the old template
    back; node2's container is never touched."""
    name = "ds-guard-metric"
    annotations = {
        P + "metric-query": "sum(nodeagent_manifest_errors)",
        P + "metric-max": "0",
        P + "auto-revert": "true",
    }
    broken = fleet.host("master").manifest_dir / "broken.yaml"
    text = _daemonset(name, image=fleet.image, annotations=annotations, minReadySeconds=3)
    try:
        with fleet.daemonset(text):
            wait_for(lambda: _all_ready(fleet, name, fleet.image), timeout=60, message="ready")
            fleet.kubectl("rollout", "status", f"ds/{name}", "--timeout=60s")
            wait_for(
                lambda: (
                    _condition(_ds(fleet, name), "Progressing").get("reason")
                    == "NewRevisionAvailable"
                ),
                timeout=30,
                message="revision 1 complete",
            )
            broken.write_text("kind: Pod\nmetadata: [this is not a pod\n")
            wait_for(
                lambda: (_query(prometheus, "sum(nodeagent_manifest_errors)") or 0) >= 1,
                timeout=30,
                message="prometheus sees the bad manifest",
            )
            node2_before = _container_ids(fleet, "node2", name + "-")
            fleet.kubectl("set", "image", f"ds/{name}", f"daemonset-example={NEW}")
            rolled_back = wait_for(
                lambda: _condition(_ds(fleet, name), "RolledBack"),
                timeout=60,
                message="the metric gate reverted",
            )
            assert "metric gate: sum(nodeagent_manifest_errors) = 1" in rolled_back["message"]
            fleet.kubectl("rollout", "status", f"ds/{name}", "--timeout=60s")
            wait_for(lambda: _all_ready(fleet, name, fleet.image), timeout=60, message="old")
            assert _container_ids(fleet, "node2", name + "-") == node2_before
    finally:
        broken.unlink(missing_ok=True)
