"""A second real client: the official Python `kubernetes` package lists and watches the
server's DaemonSets and pods with the admin kubeconfig."""

from __future__ import annotations

from typing import Any

from kubernetes import client, config, watch

from tests.integration.kubectl.conftest import SUITE_NODES, Cluster, daemonset_yaml, wait_for

# The client's helpers are untyped and its models Optional everywhere: treat them as Any.
Watch: Any = watch.Watch
load_kube_config: Any = config.load_kube_config


def _api(cluster: Cluster) -> client.ApiClient:
    configuration = client.Configuration()
    load_kube_config(config_file=str(cluster.server.kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


def test_list_and_watch_daemonsets_and_pods(cluster: Cluster, ns: str) -> None:
    """The client decodes lists, then sees the DaemonSet and its pods arrive by watch."""
    with _api(cluster) as api_client:
        apps: Any = client.AppsV1Api(api_client)
        core: Any = client.CoreV1Api(api_client)
        empty = apps.list_namespaced_daemon_set(ns)
        assert empty.items == []
        since = empty.metadata.resource_version
        pods_since = core.list_namespaced_pod(ns).metadata.resource_version

        path = cluster.write(f"{ns}/ds.yaml", daemonset_yaml("fluentd", ns))
        cluster.kubectl("create", "-f", str(path), check=True)

        seen: list[tuple[str, Any]] = []
        w = Watch()
        for event in w.stream(
            apps.list_namespaced_daemon_set, ns, resource_version=since, timeout_seconds=20
        ):
            seen.append((event["type"], event["object"]))
            if event["type"] == "ADDED":
                w.stop()
        assert seen
        kind, ds = seen[0]
        assert kind == "ADDED"
        assert ds.metadata.name == "fluentd"
        assert ds.spec.template.spec.containers[0].image == "busybox:1.36"
        assert ds.spec.update_strategy.type == "RollingUpdate"

        pod_names: set[str] = set()
        w = Watch()
        for event in w.stream(
            core.list_namespaced_pod, ns, resource_version=pods_since, timeout_seconds=20
        ):
            if event["type"] == "ADDED":
                pod_names.add(event["object"].metadata.name)
            if len(pod_names) == len(SUITE_NODES):
                w.stop()
        assert len(pod_names) == len(SUITE_NODES)

        listed = core.list_namespaced_pod(ns, label_selector="name=fluentd")
        assert {p.metadata.name for p in listed.items} == pod_names
        assert {p.spec.node_name for p in listed.items} == set(SUITE_NODES)

        def counted() -> Any:
            status = apps.read_namespaced_daemon_set(name="fluentd", namespace=ns).status
            return status if status.desired_number_scheduled == len(SUITE_NODES) else None

        status = wait_for(counted, what="the DaemonSet status")
        assert status.current_number_scheduled == len(SUITE_NODES)
        everywhere = apps.list_daemon_set_for_all_namespaces()
        assert ("fluentd", ns) in {
            (d.metadata.name, d.metadata.namespace) for d in everywhere.items
        }


def test_the_client_pages_a_list_with_limit_and_continue(cluster: Cluster, ns: str) -> None:
    """list_namespaced_pod(limit=, _continue=) pages as against kube-apiserver."""
    for name in ("c", "a", "b"):
        cluster.kubectl("run", name, "-n", ns, "--image=busybox", check=True)
    with _api(cluster) as api_client:
        core: Any = client.CoreV1Api(api_client)
        first = core.list_namespaced_pod(ns, limit=2)
        assert [p.metadata.name for p in first.items] == ["a", "b"]
        assert first.metadata.remaining_item_count == 1
        rest = core.list_namespaced_pod(ns, limit=2, _continue=first.metadata._continue)
        assert [p.metadata.name for p in rest.items] == ["c"]
        assert rest.metadata._continue is None
