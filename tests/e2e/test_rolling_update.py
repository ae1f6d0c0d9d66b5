"""Rolling update and rollback of a DaemonSet's image (issue 8 scenario 6)."""

from __future__ import annotations

import threading

import pytest

from tests.e2e.harness import Fleet
from tests.e2e.reading import example_daemonset, pod_ready, wait_for
from tests.support.podman import tag_image

pytestmark = pytest.mark.e2e
NEW_IMAGE = "localhost/busybox:2"


class Sampler:
    """Watches the pods while a rollout runs: the most nodes ever without a ready pod."""

    def __init__(self, fleet: Fleet, selector: str, nodes: list[str]) -> None:
        self.fleet, self.selector, self.nodes = fleet, selector, nodes
        self.worst = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pods = self.fleet.pods(self.selector)
            ready = {p["spec"]["nodeName"] for p in pods if pod_ready(p)}
            self.worst = max(self.worst, len([n for n in self.nodes if n not in ready]))
            self.samples += 1
            self._stop.wait(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def _images(fleet: Fleet, prefix: str) -> set[str]:
    return {c["Image"] for h in fleet.workers for c in h.running(prefix)}


def test_image_update_rolls_node_by_node_and_undo_goes_back(fleet: Fleet) -> None:
    """`kubectl set image` rolls the pods with never more than maxUnavailable (1) node without
    a ready pod; `kubectl rollout status` finishes; `kubectl rollout undo` brings back :1."""
    for host in fleet.hosts:
        assert host.podman_service is not None
        tag_image(host.podman_service, fleet.image, NEW_IMAGE)
    workers = sorted(h.name for h in fleet.workers)
    with fleet.daemonset(example_daemonset("ds-rolling", image=fleet.image)):
        wait_for(
            lambda: sorted(p["spec"]["nodeName"] for p in fleet.pods("name=ds-rolling")
                           if pod_ready(p)) == workers,
            timeout=60,
            message="ds-rolling ready on the workers",
        )  # fmt: skip
        fleet.kubectl("rollout", "status", "ds/ds-rolling", "--timeout=60s")
        for target in (NEW_IMAGE, fleet.image):
            with Sampler(fleet, "name=ds-rolling", workers) as sampler:
                if target == NEW_IMAGE:
                    fleet.kubectl("set", "image", "ds/ds-rolling", f"daemonset-example={target}")
                else:
                    fleet.kubectl("rollout", "undo", "ds/ds-rolling")
                done = fleet.kubectl("rollout", "status", "ds/ds-rolling", "--timeout=120s")
            assert "successfully rolled out" in done.stdout
            assert sampler.samples > 0
            assert sampler.worst <= 1, f"{sampler.worst} nodes without a ready pod at once"
            wait_for(
                lambda target=target: _images(fleet, "ds-rolling-") == {target},
                timeout=60,
                message=f"every worker runs {target}",
            )
        history = fleet.kubectl("rollout", "history", "ds/ds-rolling").stdout
        assert "REVISION" in history
