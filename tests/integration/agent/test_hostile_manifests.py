"""Hostile manifest files cost the agent nothing: `nodeagent agent` as a process on real podman
lists each bomb as that file's error on GET /pods, keeps answering /healthz, grows its resident
memory by less than 50 MiB, and leaves the pods of the other files running as they were
(docs/security.md, "Bounded input")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import bombs
from tests.support.podman import PodmanService
from tests.support.wait import wait_until

from .conftest import free_port, pod_yaml

pytestmark = pytest.mark.podman

CLIENT_DEADLINE = 3.0  # seconds for /healthz and /pods, also while a bomb is being read
RSS_GROWTH_LIMIT = 50 * 1024 * 1024

# file name -> (content, a fragment of the error GET /pods reports for it)
BOMBS: dict[str, tuple[bytes, str]] = {
    "alias-bomb.yaml": (bombs.yaml_alias_bomb("Pod", "laughs"), "excessive aliasing"),
    "merge-bomb.yaml": (bombs.yaml_merge_bomb(), "excessive aliasing"),
    "deep.json": (bombs.deep_json_object(), "more than 100 levels"),
    "deep-flow.yaml": (bombs.deep_yaml_flow(), "more than 100 levels"),
    "deep-block.yaml": (bombs.deep_yaml_block(), "more than 100 levels"),
    "wrong-type.yaml": (
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: typed}\nspec: [1]\n",
        "spec: Invalid value: list: must be an object",
    ),
    "huge.yaml": (b"# " + b"x" * (10 * 2**20) + b"\n", "larger than 10485760 bytes"),
}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=CLIENT_DEADLINE) as resp:
        return json.loads(resp.read())


@pytest.fixture
def agent(
    podman_service: PodmanService, busybox: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for name in ("good-a", "good-b"):
        (manifests / f"{name}.yaml").write_text(pod_yaml(name, busybox))
    node = f"it-hostile-{os.getpid()}"
    listen = f"127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "nodeagent", "agent", "--node-name", node]
    cmd += ["--manifest-dir", str(manifests), "--state-dir", str(tmp_path / "state")]
    cmd += ["--runtime-socket", podman_service.socket_path, "--listen", listen]
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc, f"http://{listen}", manifests
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        podman_service.remove_node_containers(node)


def running_ids(base: str) -> dict[str, str] | None:
    """{pod name: container id} once both good pods run, else None."""
    pods = get_json(base + "/pods")["pods"]
    ids = {
        p["name"]: p["containers"][0]["id"]
        for p in pods
        if p["phase"] == "Running" and p["containers"][0]["state"] == "running"
    }
    return ids if len(ids) == 2 else None


def test_manifest_bombs_are_reported_per_file_and_cost_nothing(
    agent: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    """Each bomb is that file's error; /healthz answers; RSS grows < 50 MiB; the other
    files' pods keep their containers."""
    proc, base, manifests = agent
    before_ids = wait_until(lambda: running_ids(base), timeout=60, message="good pods run")
    before_rss = bombs.rss_bytes(proc.pid)
    for name, (content, _) in BOMBS.items():
        (manifests / name).write_bytes(content)

    def reported() -> dict[str, str] | None:
        with urllib.request.urlopen(base + "/healthz", timeout=CLIENT_DEADLINE) as resp:
            assert resp.status == 200
        rejected = {
            Path(r["origin"]).name: r["error"] for r in get_json(base + "/pods")["rejected"]
        }
        return rejected if set(BOMBS) <= set(rejected) else None

    rejected = wait_until(reported, timeout=60, message="every bomb file is reported")
    for name, (_, fragment) in BOMBS.items():
        assert fragment in rejected[name], (name, rejected[name])
        assert rejected[name].startswith(str(manifests / name)), rejected[name]
    grown = bombs.rss_bytes(proc.pid) - before_rss
    assert grown < RSS_GROWTH_LIMIT, f"RSS grew by {grown / 2**20:.0f} MiB"
    assert running_ids(base) == before_ids
