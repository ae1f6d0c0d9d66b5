"""Deleting a DaemonSet: cascade removes every container, orphan keeps them for adoption
(issue 8 scenario 7; seed 002's delete with and without cascade)."""

from __future__ import annotations

import pytest

from nodeagent.api.bodies import Obj
from tests.e2e.harness import Fleet
from tests.e2e.reading import example_daemonset, pod_ready, wait_for

pytestmark = pytest.mark.e2e


def _ready(fleet: Fleet, name: str) -> list[Obj]:
    pods = [p for p in fleet.pods(f"name={name}") if pod_ready(p)]
    return pods if len(pods) == len(fleet.workers) else []


def _container_ids(fleet: Fleet, prefix: str) -> dict[str, str]:
    """pod name -> running container id, over every host."""
    return {
        c["Labels"]["io.nodeagent.pod.name"]: c["Id"]
        for h in fleet.hosts
        for c in h.running(prefix)
    }


def test_delete_removes_every_container_on_every_host(fleet: Fleet) -> None:
    """`kubectl delete daemonset`: its pods go, and no host runs a container of it any more."""
    text = example_daemonset("ds-cascade", image=fleet.image)
    with fleet.daemonset(text):
        wait_for(lambda: _ready(fleet, "ds-cascade"), timeout=60, message="ds-cascade ready")
        assert len(_container_ids(fleet, "ds-cascade-")) == len(fleet.workers)
        fleet.kubectl("delete", "daemonset", "ds-cascade")
        wait_for(
            lambda: not _container_ids(fleet, "ds-cascade-") and not fleet.pods("name=ds-cascade"),
            timeout=60,
            message="every ds-cascade pod and container gone",
        )


def test_orphaned_pods_keep_running_and_a_new_daemonset_adopts_them(fleet: Fleet) -> None:
    """`--cascade=orphan` leaves pods and containers running; a new DaemonSet with the same
    selector and template adopts those very pods: same names, same containers, new owner."""
    text = example_daemonset("ds-orphans", image=fleet.image)
    with fleet.daemonset(text):
        pods = wait_for(lambda: _ready(fleet, "ds-orphans"), timeout=60, message="ready")
        names = sorted(p["metadata"]["name"] for p in pods)
        before = _container_ids(fleet, "ds-orphans-")
        assert sorted(before) == names
        fleet.kubectl("delete", "daemonset", "ds-orphans", "--cascade=orphan")
        wait_for(
            lambda: fleet.kubectl("get", "daemonset", "ds-orphans", check=False).returncode != 0,
            timeout=30,
            message="the DaemonSet gone",
        )
        wait_for(
            lambda: all(
                not p["metadata"].get("ownerReferences") for p in fleet.pods("name=ds-orphans")
            ),
            timeout=30,
            message="the pods orphaned (no owner)",
        )
        assert sorted(p["metadata"]["name"] for p in fleet.pods("name=ds-orphans")) == names
        assert _container_ids(fleet, "ds-orphans-") == before

        fleet.kubectl("create", "-f", "-", input_=text)
        uid = fleet.kubectl_json("get", "daemonset", "ds-orphans")["metadata"]["uid"]

        def adopted() -> bool:
            pods = fleet.pods("name=ds-orphans")
            owners = [r.get("uid") for p in pods for r in p["metadata"].get("ownerReferences", [])]
            return owners == [uid] * len(names)

        wait_for(adopted, timeout=60, message="the new DaemonSet owns the orphans")
        fleet.kubectl("rollout", "status", "ds/ds-orphans", "--timeout=60s")
        assert sorted(p["metadata"]["name"] for p in fleet.pods("name=ds-orphans")) == names
        assert _container_ids(fleet, "ds-orphans-") == before
