"""A host with no server at all (issue 8 scenario 9): a DaemonSet file in its manifest
directory runs there when the host matches it, and only then."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.harness import Fleet
from tests.e2e.reading import example_daemonset, wait_for

pytestmark = pytest.mark.e2e


def test_daemonset_file_runs_on_a_host_without_a_server(fleet: Fleet) -> None:
    """The seed 001 DaemonSet dropped into /etc/nodeagent/manifests of a server-less host runs
    its pod there; a second one whose nodeSelector the host does not match runs nothing."""
    host = fleet.add_host("lonely", labels=("site=edge",), server=False)
    try:
        (host.manifest_dir / "example.yaml").write_text(
            example_daemonset("ds-local", image=fleet.image)
        )
        elsewhere = yaml.safe_load(
            example_daemonset("ds-elsewhere", image=fleet.image, node_selector={"site": "hq"})
        )
        (host.manifest_dir / "elsewhere.yaml").write_text(yaml.safe_dump(elsewhere))
        running = wait_for(
            lambda: host.running("ds-local-"), timeout=60, message="ds-local running on lonely"
        )
        assert len(running) == 1
        assert running[0]["Labels"]["io.nodeagent.source"] == "file"
        assert host.running("ds-elsewhere-") == []
        assert "lonely" not in fleet.kubectl("get", "nodes").stdout

        (host.manifest_dir / "example.yaml").unlink()
        wait_for(
            lambda: host.running("ds-local-") == [],
            timeout=60,
            message="ds-local stopped once its file is gone",
        )
    finally:
        fleet.remove_host(host)
