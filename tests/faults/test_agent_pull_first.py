"""Pull before replace with the real podman and a local registry: a DaemonSet rollout to an
image that does not exist leaves the old daemon's container running, and the new pod reports
ErrImagePull (then ImagePullBackOff) on the server (issue 18: podman auto-update's ask)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService
from tests.support.registry import LocalRegistry
from tests.support.server import start_server_process
from tests.support.wait import wait_until

from .agentfaults import FaultHost, phase_ready, pod_containers

pytestmark = pytest.mark.podman
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff")


@pytest.fixture(scope="module")
def host(
    tmp_path_factory: pytest.TempPathFactory,
    puller: PodmanService,
    podman_service: PodmanService,
    busybox: str,
    image_registry: LocalRegistry,
) -> Iterator[FaultHost]:
    """A server process and agents on `puller`, whose images come from the local registry."""
    good = f"{image_registry.address}/faults/busybox:good"
    podman_service.podman("push", "--tls-verify=false", busybox, good)
    root = tmp_path_factory.mktemp("agent-pull-first")
    server = start_server_process(root / "server")
    faults = FaultHost(server=server, podman=puller, root=root, image=good)
    try:
        yield faults
    finally:
        faults.close()
        server.stop()


def _daemonset(host: FaultHost, image: str) -> Obj:
    script = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
    template = {
        "metadata": {"labels": {"app": "pf"}},
        "spec": {
            "hostNetwork": True,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": ["/bin/sh", "-c", script]}],
        },
    }  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "pf", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "pf"}}, "template": template},
    }


def _daemon_pods(host: FaultHost) -> list[Obj]:
    status, reply = host.api("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dpf")
    assert status == 200, reply
    items: list[Obj] = reply.get("items") or []
    return items


def _waiting_reason(pod: Obj) -> str:
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        return str(((c.get("state") or {}).get("waiting") or {}).get("reason") or "")
    return ""


def test_an_unpullable_image_keeps_the_old_daemon_running(host: FaultHost) -> None:
    """The DaemonSet's image changes to one the registry does not have: the old container
    keeps running (the same one), the new pod waits in ErrImagePull/ImagePullBackOff."""
    node = "pull-first-0"
    agent = host.start_agent(node)
    status, reply = host.api("POST", "/apis/apps/v1/namespaces/default/daemonsets",
                             _daemonset(host, host.image))  # fmt: skip
    assert status == 201, reply
    first = wait_until(
        lambda: next((p for p in _daemon_pods(host) if phase_ready(p)), None),
        timeout=90,
        message="the daemon pod Ready",
    )
    old_uid = first["metadata"]["uid"]
    (before,) = pod_containers(host.containers(node), old_uid)

    missing = host.image.replace(":good", ":missing")
    rollout = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": missing}]}}}}
    status, reply = host.api("PATCH", "/apis/apps/v1/namespaces/default/daemonsets/pf", rollout,
                             content_type="application/strategic-merge-patch+json")  # fmt: skip
    assert status == 200, reply

    def new_pod_failing() -> Obj | None:
        for p in _daemon_pods(host):
            if p["metadata"]["uid"] != old_uid and _waiting_reason(p) in PULL_FAILURES:
                return p
        return None

    wait_until(new_pod_failing, timeout=90, message="the new pod reports ErrImagePull")
    still = pod_containers(host.containers(node), old_uid)
    assert [(c["Id"], c["State"]) for c in still] == [(before["Id"], "running")]
    agent.stop()
