"""An idle `nodeagent agent` without a server has not imported what only other work needs.

Resident memory on every host is a target (docs/performance.md section 2): the exec/attach
code loads at the first exec or attach, the node conditions and psutil with the server
reporter, `fractions`/`decimal` at the first quantity parsed, the URL source when one is set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.podman import PodmanService
from tests.support.wait import wait_until

from .conftest import free_port, pod_yaml
from .test_agent_imports import WRAPPER

pytestmark = pytest.mark.podman

# Modules an agent with running static pods (no resources named) and no server never uses.
NOT_LOADED_WHEN_IDLE = (
    "nodeagent.agent.execstream",
    "nodeagent.api.remotecommand",
    "nodeagent.agent.conditions",
    "nodeagent.agent.stats",
    "nodeagent.agent.sources.url",
    "nodeagent.agent.serversync",
    "psutil",
    "fractions",
    "decimal",
    "watchdog.observers.polling",  # only where inotify cannot serve the manifest directory
)


def test_idle_agent_without_a_server_skips_what_it_does_not_use(
    podman_service: PodmanService, busybox: str, tmp_path: Path
) -> None:
    """With a static pod running and /healthz, /metrics and /pods served, none of the modules
    named above is loaded (while the runtime, reconcile and HTTP code are)."""
    manifests, modules_file = tmp_path / "manifests", tmp_path / "modules.json"
    manifests.mkdir()
    (manifests / "p.yaml").write_text(pod_yaml("p", busybox))
    node = f"it-lazy-{os.getpid()}"
    listen = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-c", WRAPPER, str(modules_file), "agent", "--node-name", node]
    argv += ["--manifest-dir", str(manifests), "--state-dir", str(tmp_path / "state")]
    argv += ["--runtime-socket", podman_service.socket_path, "--listen", listen]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def get(path: str) -> bytes:
        with urllib.request.urlopen(f"http://{listen}{path}", timeout=2) as resp:
            return bytes(resp.read())

    def running() -> bool:
        pods = json.loads(get("/pods"))["pods"]
        return any(p["phase"] == "Running" for p in pods)

    try:
        wait_until(running, timeout=60, message="the static pod runs under the agent process")
        assert get("/healthz") == b"ok"
        assert b"nodeagent_pods" in get("/metrics")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        podman_service.remove_node_containers(node)
    loaded = set(json.loads(modules_file.read_text()))
    assert {"nodeagent.runtime.docker", "nodeagent.agent.reconciler", "aiohttp.web"} <= loaded
    assert "watchdog.observers.inotify" in loaded  # the manifest directory's watch
    assert [m for m in NOT_LOADED_WHEN_IDLE if m in loaded] == []
