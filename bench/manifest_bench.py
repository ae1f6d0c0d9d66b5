"""Figure 1: a static pod manifest dropped, edited, removed -> running, replaced, gone (engine).

`nodeagent agent` runs as its own process on a private podman service; the bench watches the
engine directly (GET /containers/json every 10 ms). Baseline, interleaved in the same run: the
same container by a bare Docker Engine API call sequence (create, start, inspect until running;
stop+remove+create+start for an edit; stop+remove for a removal).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import Engine, free_port, ms_since, poll
from bench.report import Figure
from nodeagent.runtime import labels
from tests.support.podman import PodmanService, busybox_image

NODE = "bench-manifest"
SCRIPT = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
GRACE = 2


def _manifest(name: str, image: str, version: int) -> str:
    container = {
        "name": "main",
        "image": image,
        "command": ["/bin/sh", "-c", SCRIPT],
        "env": [{"name": "V", "value": str(version)}],
    }
    spec = {"hostNetwork": True, "terminationGracePeriodSeconds": GRACE, "containers": [container]}
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})


def _put(directory: Path, scratch: Path, name: str, text: str) -> None:
    """Write atomically (rename into the watched dir), as a config tool would."""
    tmp = scratch / name
    tmp.write_text(text)
    os.replace(tmp, directory / name)


async def _main_running(engine: Engine, pod: str, *, not_id: str = "") -> str | None:
    for c in await engine.containers(f"{labels.POD_NAME}={pod}-{NODE}"):
        lab = c.get("Labels") or {}
        main = lab.get(labels.CONTAINER_NAME) == "main"
        if main and c.get("State") == "running" and c["Id"] != not_id:
            return str(c["Id"])
    return None


async def _none_running(engine: Engine, pod: str) -> bool:
    found = await engine.containers(f"{labels.POD_NAME}={pod}-{NODE}")
    return not any(c.get("State") == "running" for c in found)


async def _bare_create(engine: Engine, name: str, image: str, version: int) -> str:
    body: dict[str, Any] = {
        "Image": image,
        "Cmd": ["/bin/sh", "-c", SCRIPT],
        "Env": [f"V={version}"],
        "Labels": {"bench": "baseline"},
        "HostConfig": {"NetworkMode": "host"},
    }
    created = await engine.call("POST", "/containers/create", body, name=name)
    cid = str(created["Id"])
    await engine.call("POST", f"/containers/{cid}/start")

    async def running() -> bool:
        info = await engine.call("GET", f"/containers/{cid}/json")
        return bool(info["State"]["Running"])

    await poll(running, timeout=60, what=f"bare {name} running")
    return cid


async def _bare_remove(engine: Engine, cid: str) -> None:
    await engine.call("POST", f"/containers/{cid}/stop", t=str(GRACE))
    await engine.call("DELETE", f"/containers/{cid}", force="true")


async def _measure(
    podman: PodmanService, manifests: Path, scratch: Path, runs: int
) -> dict[str, list[float]]:
    image = busybox_image(podman)
    engine = Engine(podman.socket_path)
    out: dict[str, list[float]] = {k: [] for k in ("drop", "edit", "remove", "b1", "b2", "b3")}
    try:
        for i in range(-1, runs):  # run -1 warms up (sandbox image import, first pull)
            name = f"p{i + 1}"
            t0 = time.perf_counter()
            _put(manifests, scratch, f"{name}.json", _manifest(name, image, 1))
            first = await poll(
                partial(_main_running, engine, name), timeout=120, what=f"{name} running"
            )
            drop = ms_since(t0)
            t0 = time.perf_counter()
            _put(manifests, scratch, f"{name}.json", _manifest(name, image, 2))
            await poll(
                partial(_main_running, engine, name, not_id=first),
                timeout=60,
                what=f"{name} replaced",
            )
            edit = ms_since(t0)
            t0 = time.perf_counter()
            (manifests / f"{name}.json").unlink()
            await poll(partial(_none_running, engine, name), timeout=60, what=f"{name} gone")
            remove = ms_since(t0)

            t0 = time.perf_counter()
            cid = await _bare_create(engine, f"bare-{name}", image, 1)
            b1 = ms_since(t0)
            t0 = time.perf_counter()
            await _bare_remove(engine, cid)
            cid = await _bare_create(engine, f"bare-{name}", image, 2)
            b2 = ms_since(t0)
            t0 = time.perf_counter()
            await _bare_remove(engine, cid)
            b3 = ms_since(t0)
            if i >= 0:
                for key, value in zip(out, (drop, edit, remove, b1, b2, b3), strict=True):
                    out[key].append(value)
    finally:
        await engine.close()
    return out


def run(*, runs: int = 20) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-manifest-", ignore_cleanup_errors=True) as tmp:
        base = Path(tmp)
        manifests, scratch, state = base / "manifests", base / "scratch", base / "state"
        for d in (manifests, scratch, state):
            d.mkdir()
        podman = PodmanService.start(base / "podman")
        log = (base / "agent.log").open("wb")
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nodeagent",
                "agent",
                "--node-name",
                NODE,
                "--manifest-dir",
                str(manifests),
                "--state-dir",
                str(state),
                "--runtime-socket",
                podman.socket_path,
                "--listen",
                f"127.0.0.1:{free_port()}",
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            out = asyncio.run(_measure(podman, manifests, scratch, runs))
        except Exception:
            print((base / "agent.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            agent.terminate()
            agent.wait(20)
            log.close()
            podman.stop()
    rows = (
        ("drop_to_running", "drop", "b1", "bare create+start+inspect until running"),
        ("edit_to_replacement_running", "edit", "b2", "bare stop+remove+create+start"),
        ("remove_to_gone", "remove", "b3", "bare stop+remove"),
    )
    return [
        Figure(
            name=f"manifest.{name}",
            unit="ms",
            samples=tuple(out[key]),
            baseline_name=base_name,
            baseline=tuple(out[bkey]),
            target="at most 1.10x the bare API sequence" if key == "drop" else "",
        )
        for name, key, bkey, base_name in rows
    ]
