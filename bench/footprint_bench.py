"""Figure 2: resident memory and CPU share of an idle `nodeagent agent`, with 0 and with N pods.

The agent runs as its own process (default settings, no server) on a private podman service.
Each window samples RSS and CPU once a second. Baseline, sampled in the same window as the
0-pod agent: a bare Python process that imports the same dependencies and sleeps (structlog
without rich, as the agent imports it). BENCH_FOOTPRINT_SECONDS shortens the windows while
iterating on a fix (the figures of docs/performance.md use the full 60 s).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Engine, Usage, free_port, poll, sample_process
from bench.report import Figure
from nodeagent.runtime import labels
from tests.support.podman import PodmanService, busybox_image

NODE = "bench-footprint"
# what an idle agent without a server imports (psutil comes with a server)
DEPENDENCIES = "aiohttp, aiodocker, watchdog.observers, orjson, structlog, yaml, prometheus_client"
# structlog imported with rich hidden, as nodeagent.log.import_structlog does (inline, so the
# baseline is the same when a "before" tree without that function is measured)
BARE = (
    "import sys; sys.modules['rich'] = None; import structlog; del sys.modules['rich']; "
    f"import {DEPENDENCIES}, time; time.sleep(100000)"
)
SCRIPT = "trap 'exit 0' TERM; while true; do sleep 3600 & wait; done"


def _manifest(name: str, image: str) -> str:
    container = {"name": "main", "image": image, "command": ["/bin/sh", "-c", SCRIPT]}
    spec = {"hostNetwork": True, "terminationGracePeriodSeconds": 1, "containers": [container]}
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})


async def _wait_running(socket_path: str, count: int) -> None:
    engine = Engine(socket_path)

    async def all_running() -> bool:
        found = await engine.containers(f"{labels.NODE}={NODE}")
        mains = [
            c
            for c in found
            if (c.get("Labels") or {}).get(labels.CONTAINER_NAME) == "main"
            and c.get("State") == "running"
        ]
        return len(mains) >= count

    try:
        await poll(all_running, timeout=60 + 5 * count, interval=0.2, what=f"{count} pods running")
    finally:
        await engine.close()


def _window(pid: int, seconds: float, settle: float) -> Usage:
    time.sleep(settle)  # start-up work (imports, first reconcile, registration) is not idle
    return sample_process(pid, seconds=seconds)


def run(
    *, seconds: float = 60.0, pods: int = 20, settle: float = 5.0, sync_interval: float = 0.0
) -> list[Figure]:
    """`sync_interval` > 0 sets the agent's full resync (syncInterval) for an experiment."""
    seconds = float(os.environ.get("BENCH_FOOTPRINT_SECONDS") or seconds)
    with tempfile.TemporaryDirectory(prefix="bench-footprint-", ignore_cleanup_errors=True) as tmp:
        base = Path(tmp)
        manifests, state = base / "manifests", base / "state"
        manifests.mkdir()
        state.mkdir()
        podman = PodmanService.start(base / "podman")
        image = busybox_image(podman)
        log = (base / "agent.log").open("wb")
        argv = [sys.executable, "-m", "nodeagent", "agent", "--node-name", NODE]
        argv += ["--manifest-dir", str(manifests), "--state-dir", str(state)]
        argv += ["--runtime-socket", podman.socket_path, "--listen", f"127.0.0.1:{free_port()}"]
        if sync_interval > 0:
            (base / "agent.yaml").write_text(f"syncInterval: {sync_interval}\n")
            argv += ["--config", str(base / "agent.yaml")]
        agent = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        bare = subprocess.Popen([sys.executable, "-c", BARE])
        try:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                idle0 = pool.submit(_window, agent.pid, seconds, settle)
                baseline = pool.submit(_window, bare.pid, seconds, settle)
                empty, base_usage = idle0.result(), baseline.result()
            for i in range(pods):
                (manifests / f"idle{i}.json").write_text(_manifest(f"idle{i}", image))
            asyncio.run(_wait_running(podman.socket_path, pods))
            full = _window(agent.pid, seconds, settle)
        finally:
            bare.kill()
            bare.wait()
            agent.terminate()
            agent.wait(20)
            log.close()
            podman.stop()
    base_name = "bare python, same imports"
    figures: list[Figure] = []
    for label, usage in (("0_pods", empty), (f"{pods}_pods", full)):
        figures.append(
            Figure(
                name=f"footprint.agent_rss_{label}",
                unit="MiB",
                samples=tuple(usage.rss_mib),
                baseline_name=base_name,
                baseline=tuple(base_usage.rss_mib),
                target="at most 45 MiB with 20 static pods",
            )
        )
        figures.append(
            Figure(
                name=f"footprint.agent_cpu_{label}",
                unit="%",
                samples=tuple(usage.cpu_percent),
                baseline_name=base_name,
                baseline=tuple(base_usage.cpu_percent),
                target="at most 0.1 % of a core idle with 20 static pods",
            )
        )
        figures.append(
            Figure(
                name=f"footprint.agent_cpu_{label}_whole_window",
                unit="%",
                samples=(usage.cpu_total_percent,),
                baseline_name=base_name,
                baseline=(base_usage.cpu_total_percent,),
            )
        )
    return figures
