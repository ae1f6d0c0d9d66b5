"""The official Python client decodes Nodes as an agent reports them (nodeInfo without
kubeProxyVersion, machineID, ...): the server fills NodeSystemInfo as Go serializes it."""

from __future__ import annotations

from typing import Any

from kubernetes import client, config, watch

from tests.integration.kubectl.conftest import SUITE_NODES, Cluster

Watch: Any = watch.Watch
load_kube_config: Any = config.load_kube_config


def test_list_and_watch_nodes_pods_and_daemonsets(cluster: Cluster) -> None:
    """list_node, the all-namespaces lists and a node watch decode (the client's models
    reject a nodeInfo without its required string fields)."""
    configuration = client.Configuration()
    load_kube_config(config_file=str(cluster.server.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        core: Any = client.CoreV1Api(api_client)
        apps: Any = client.AppsV1Api(api_client)
        nodes = core.list_node()
        names = {n.metadata.name for n in nodes.items}
        assert set(SUITE_NODES) <= names
        info = next(n for n in nodes.items if n.metadata.name in SUITE_NODES).status.node_info
        assert info.kubelet_version == "v1.37.0"
        assert info.kube_proxy_version == ""
        core.list_pod_for_all_namespaces()
        apps.list_daemon_set_for_all_namespaces()
        seen: list[str] = []
        w = Watch()
        for event in w.stream(core.list_node, timeout_seconds=5):
            seen.append(event["object"].metadata.name)
            if set(SUITE_NODES) <= set(seen):
                w.stop()
        assert set(SUITE_NODES) <= set(seen)


def test_version_and_discovery_with_trailing_slash(cluster: Cluster) -> None:
    """The client's VersionApi and discovery calls ask /version/, /api/, /apis/ and
    /apis/apps/v1/ (with the slash), which kube-apiserver serves."""
    configuration = client.Configuration()
    load_kube_config(config_file=str(cluster.server.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        version: Any = client.VersionApi(api_client)
        assert version.get_code().git_version.startswith("v1.")
        core: Any = client.CoreApi(api_client)
        assert "v1" in core.get_api_versions().versions
        apis: Any = client.ApisApi(api_client)
        assert "apps" in {g.name for g in apis.get_api_versions().groups}
        apps: Any = client.AppsV1Api(api_client)
        assert "daemonsets" in {r.name for r in apps.get_api_resources().resources}
