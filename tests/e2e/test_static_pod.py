"""A static pod on a host with a server (seed 002): it runs from the manifest directory and the
server shows it as a mirror pod named NAME-NODE, which goes when the file goes."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Fleet
from tests.e2e.reading import manifest, table, wait_for

pytestmark = pytest.mark.e2e


def test_static_pod_runs_and_is_mirrored_on_the_server(fleet: Fleet) -> None:
    """manifests/static-pod-example.yaml in node1's manifest dir: its container runs there and
    `kubectl get pods` lists static-web-node1 Running; removing the file removes both."""
    host = fleet.host("node1")
    path = host.manifest_dir / "static-web.yaml"
    path.write_text(manifest("static-pod-example.yaml", image=fleet.image))
    try:

        def mirrored() -> dict[str, str] | None:
            rows = table(fleet.kubectl("get", "pods", "-o", "wide").stdout)
            row = next((r for r in rows if r["NAME"] == "static-web-node1"), None)
            return row if row and row["STATUS"] == "Running" else None

        row = wait_for(mirrored, timeout=60, message="mirror pod static-web-node1 Running")
        assert row["NODE"] == "node1"
        assert len(host.running("static-web-node1")) == 1
        mirror = fleet.kubectl_json("get", "pod", "static-web-node1")
        assert "kubernetes.io/config.mirror" in mirror["metadata"].get("annotations", {})
    finally:
        path.unlink()
    wait_for(
        lambda: (
            host.running("static-web-node1") == []
            and "static-web-node1" not in fleet.kubectl("get", "pods").stdout
        ),
        timeout=60,
        message="the static pod and its mirror gone with the file",
    )
