"""The DaemonSet manifests operators already have apply unchanged with the real kubectl:
seed 002's kube-proxy with its ConfigMap and ServiceAccount, and the upstream fluent-bit,
filebeat and node-problem-detector manifests (their Namespace, ConfigMap, ServiceAccount and
DaemonSet documents, images swapped for the local busybox). What the agent cannot honour is
printed as kubectl's `Warning:` lines; nothing is refused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.kubectl.agentprocess import agent_process
from tests.integration.kubectl.conftest import Cluster, wait_for
from tests.support.podman import PodmanService

UPSTREAM = Path(__file__).parents[2] / "data" / "upstream"
SLEEP = ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]

# seed 002's `kubectl describe daemonset kube-proxy -n kube-system`, its Volumes block
SEED_VOLUMES = """\
  Volumes:
   kube-proxy:
    Type:      ConfigMap (a volume populated by a ConfigMap)
    Name:      kube-proxy
    Optional:  false
   xtables-lock:
    Type:          HostPath (bare host directory volume)
    Path:          /run/xtables.lock
    HostPathType:  FileOrCreate
   lib-modules:
    Type:          HostPath (bare host directory volume)
    Path:          /lib/modules
    HostPathType:  \n"""


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((UPSTREAM / name).read_text()) if d]


@pytest.fixture
def applied(cluster: Cluster) -> Iterator[list[str]]:
    """The files a test applied, deleted afterwards (they live in shared namespaces)."""
    files: list[str] = []
    yield files
    for path in files:
        cluster.kubectl("delete", "-f", path, "--wait=false")


def test_seed_002_kube_proxy(cluster: Cluster, applied: list[str]) -> None:
    """kube-proxy's ConfigMap, ServiceAccount and DaemonSet apply with no warning;
    `kubectl describe ds` shows the seed's Volumes block; its pods carry the
    ConfigMap volume."""
    path = str(UPSTREAM / "kube-proxy-seed002.yaml")
    applied.append(path)
    result = cluster.kubectl("apply", "-f", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "configmap/kube-proxy created",
        "serviceaccount/kube-proxy created",
        "daemonset.apps/kube-proxy created",
    ]
    assert result.stderr.strip() == ""
    described = cluster.kubectl("describe", "ds", "kube-proxy", "-n", "kube-system", check=True)
    assert SEED_VOLUMES in described.stdout
    assert "Selector:       k8s-app=kube-proxy\n" in described.stdout
    assert "Node-Selector:  beta.kubernetes.io/arch=amd64\n" in described.stdout
    cm = cluster.get("/api/v1/namespaces/kube-system/configmaps/kube-proxy")
    assert cm["data"] == documents("kube-proxy-seed002.yaml")[0]["data"]


@pytest.mark.parametrize(
    ("name", "namespace", "daemonset", "configmap"),
    [
        ("fluent-bit.yaml", "logging", "fluent-bit", "fluent-bit-config"),
        ("filebeat.yaml", "kube-system", "filebeat", "filebeat-config"),
        (
            "node-problem-detector.yaml",
            "kube-system",
            "node-problem-detector",
            "node-problem-detector-config",
        ),
    ],
)
def test_upstream_log_shippers_and_monitors(
    cluster: Cluster,
    applied: list[str],
    name: str,
    namespace: str,
    daemonset: str,
    configmap: str,
) -> None:
    """The manifest applies unchanged, with no warning (its ServiceAccount's token is
    mounted); the ConfigMap
    holds the file's data byte for byte; the DaemonSet's pods reach a node with
    their configMap volume as written (on a node labelled as kubelet labels it:
    node-problem-detector requires kubernetes.io/os=linux)."""
    node = cluster.add_node(f"up-{daemonset}", {"kubernetes.io/os": "linux"})["metadata"]["name"]
    path = str(UPSTREAM / name)
    applied.append(path)
    result = cluster.kubectl("apply", "-f", path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
    assert f"daemonset.apps/{daemonset} created" in result.stdout
    written = next(d for d in documents(name) if d["kind"] == "ConfigMap")
    stored = cluster.get(f"/api/v1/namespaces/{namespace}/configmaps/{configmap}")
    assert stored["data"] == written["data"]
    template = next(d for d in documents(name) if d["kind"] == "DaemonSet")
    wanted_volumes = template["spec"]["template"]["spec"]["volumes"]

    def pod_on_node() -> dict[str, object] | None:
        pods = cluster.pods(namespace, selector=_selector(template))
        return next((p for p in pods if p["spec"].get("nodeName") == node), None)

    pod = wait_for(pod_on_node, what=f"a {daemonset} pod on {node}")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}  # type: ignore[index]
    for volume in wanted_volumes:
        source = next(k for k in volume if k != "name")
        for key, value in volume[source].items():
            assert volumes[volume["name"]][source][key] == value, (volume["name"], key)


def _selector(ds: dict[str, object]) -> str:
    labels = ds["spec"]["selector"]["matchLabels"]  # type: ignore[index]
    return ",".join(f"{k}={v}" for k, v in labels.items())


@pytest.mark.podman
def test_seed_002_kube_proxy_runs_on_a_real_agent(
    cluster: Cluster,
    podman_service: PodmanService,
    busybox: str,
    tmp_path: Path,
) -> None:
    """Seed 002's kube-proxy applied with kubectl runs on a real agent's node (which carries
    the beta.kubernetes.io/arch label its nodeSelector wants): the pod is Running and the
    ConfigMap's files are readable in the container where the manifest mounts them. The
    command is swapped for a sleep (busybox has no kube-proxy) and the hostPaths moved under
    the test's directory; nothing else changes."""
    config, account, daemonset = documents("kube-proxy-seed002.yaml")
    spec = daemonset["spec"]["template"]["spec"]
    spec["containers"][0]["image"] = busybox
    spec["containers"][0]["command"] = SLEEP
    (tmp_path / "host").mkdir()  # the hostPaths' parent, as /run and /lib are on a host
    for volume in spec["volumes"]:
        if "hostPath" in volume:
            volume["hostPath"]["path"] = str(tmp_path / "host" / volume["name"])
    node = f"proxy-host-{os.getpid()}"
    with agent_process(cluster, podman_service, root=tmp_path, node=node):
        try:
            text = yaml.safe_dump_all([config, account, daemonset])
            result = cluster.kubectl("apply", "-f", "-", stdin=text)
            assert result.returncode == 0, result.stderr

            def running() -> dict[str, Any] | None:
                pods = cluster.pods("kube-system", selector="k8s-app=kube-proxy")
                return next(
                    (
                        p
                        for p in pods
                        if p["spec"].get("nodeName") == node
                        and (p.get("status") or {}).get("phase") == "Running"
                    ),
                    None,
                )

            pod = wait_for(running, timeout=90, what=f"kube-proxy Running: {tmp_path}/agent.log")
            name = pod["metadata"]["name"]
            for key, text in config["data"].items():
                shown = cluster.kubectl(
                    "exec", "-n", "kube-system", name, "--", "cat", f"/var/lib/kube-proxy/{key}"
                )
                assert (shown.returncode, shown.stdout) == (0, text), shown.stderr
        finally:
            cluster.kubectl("delete", "-n", "kube-system", "ds,cm,sa", "kube-proxy", "--wait=false")
