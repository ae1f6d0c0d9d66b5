"""The DaemonSets operators already have, with their ConfigMaps, from the manifest directory on
real podman (no server): seed 002's kube-proxy and the upstream fluent-bit, filebeat and
node-problem-detector manifests (tests/data/upstream, images already the local busybox).

Each file holds the manifest's ConfigMap and DaemonSet documents as written; the test changes
only what busybox cannot be (the session's busybox image, the daemon's command a sleep, the
pull policy IfNotPresent: there is no registry) and moves each hostPath under the test's
directory (so the host is not written to). The pod runs, reads every key of its ConfigMap
where the manifest mounts it (a directory, or one file by subPath), and an edit of the
ConfigMap in the file reaches a directory mount within 10 s.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from nodeagent.api.bodies import Obj
from tests.support.podman import PodmanService
from tests.support.wait import wait_for

from .conftest import Agent

pytestmark = pytest.mark.podman
UPSTREAM = Path(__file__).parents[2] / "data" / "upstream"
SLEEP = ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


def documents(name: str) -> tuple[Obj, Obj]:
    """The manifest's ConfigMap and DaemonSet."""
    docs = [d for d in yaml.safe_load_all((UPSTREAM / name).read_text()) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    daemonset = next(d for d in docs if d["kind"] == "DaemonSet")
    return config, daemonset


def runnable(daemonset: Obj, host_root: Path, image: str) -> Obj:
    """The DaemonSet with the session's busybox and its command, no pulls, and its hostPaths
    under host_root."""
    out = copy.deepcopy(daemonset)
    spec = out["spec"]["template"]["spec"]
    for container in spec["containers"]:
        container["image"] = image
        container["command"] = SLEEP
        container.pop("args", None)
        container["imagePullPolicy"] = "IfNotPresent"
    for volume in spec["volumes"]:
        host_path = volume.get("hostPath")
        if host_path is None:
            continue
        path = host_root / host_path["path"].strip("/")
        if host_path.get("type") in ("File", "FileOrCreate"):
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            path.mkdir(parents=True, exist_ok=True)
        host_path["path"] = str(path)
    return out


def write(path: Path, *docs: Obj) -> None:
    tmp = path.with_name("." + path.name)
    tmp.write_text(yaml.safe_dump_all(docs))
    os.replace(tmp, path)


def config_mounts(daemonset: Obj, config: Obj) -> list[tuple[str, str, bool]]:
    """(path in the container, ConfigMap key, follows updates) for every key the manifest
    mounts: a directory mount follows them, a subPath mount does not."""
    spec = daemonset["spec"]["template"]["spec"]
    volume = next(v["name"] for v in spec["volumes"] if "configMap" in v)
    items = next(v["configMap"].get("items") for v in spec["volumes"] if "configMap" in v)
    paths = {i["key"]: i["path"] for i in items} if items else {k: k for k in config["data"]}
    out = []
    for mount in spec["containers"][0]["volumeMounts"]:
        if mount["name"] != volume:
            continue
        sub = mount.get("subPath")
        for key, rel in paths.items():
            if sub is None:
                out.append((f"{mount['mountPath'].rstrip('/')}/{rel}", key, True))
            elif sub == rel:
                out.append((mount["mountPath"], key, False))
    return out


@pytest.mark.parametrize(
    "name",
    ["kube-proxy-seed002.yaml", "fluent-bit.yaml", "filebeat.yaml", "node-problem-detector.yaml"],
)
async def test_upstream_daemonset_reads_its_config_map(
    make_agent: Callable[..., Agent],
    podman_service: PodmanService,
    tmp_path: Path,
    busybox: str,
    name: str,
) -> None:
    """The pod runs and sees every key as the ConfigMap has it; an edit reaches a directory
    mount within 10 s (a subPath mount keeps its file, as in Kubernetes)."""
    config, daemonset = documents(name)
    daemonset = runnable(daemonset, tmp_path / "host", busybox)
    agent = make_agent()
    path = agent.manifests / name
    write(path, config, daemonset)
    await agent.start()
    pod_name = f"{daemonset['metadata']['name']}-{agent.settings.node_name}"

    async def container_id() -> str | None:
        pod = await agent.pod_named(pod_name)
        if pod and pod["phase"] == "Running":
            return str(pod["containers"][0]["id"]).removeprefix("docker://")
        return None

    cid = await wait_for(container_id, timeout=60, message=f"{pod_name} runs")

    def cat(file: str) -> str | None:
        out = podman_service.podman("exec", cid, "cat", file, check=False)
        return out.stdout if out.returncode == 0 else None

    mounts = config_mounts(daemonset, config)
    assert mounts
    for file, key, _follows in mounts:
        assert cat(file) == config["data"][key], file

    edited = copy.deepcopy(config)
    key = next(iter(config["data"]))
    edited["data"][key] = config["data"][key] + "\n# edited\n"
    write(path, edited, daemonset)
    for file, mounted_key, follows in mounts:
        if mounted_key == key and follows:
            await wait_for(
                lambda: cat(file) == edited["data"][key] or None,  # noqa: B023 (awaited here)
                timeout=10,
                message=f"the edit reaches {file}",
            )
