"""What clients read from the server's answers, as kube-apiserver writes them: the exact JSON
media type (lightkube's ApiError), DELETE's Status or object, refusals of two validation
rules in kube-apiserver's words, and the request log and metrics of kubectl's requests."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.apps_v1 import DaemonSet

from nodeagent.server.auth import ADMIN
from tests.integration.kubectl.conftest import KUBECTL, Cluster, daemonset_yaml, wait_for
from tests.support.server import ServerProcess, start_server_process

load_kube_config: Any = config.load_kube_config


def _lightkube(cluster: Cluster) -> Client:
    return Client(config=KubeConfig.from_file(str(cluster.server.kubeconfig)))


def _raw(server: ServerProcess, path: str) -> tuple[str, bytes]:
    """Content-Type and the first line of an answer (a watch's first event)."""
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {server.admin_token}"}
    )
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return response.headers["Content-Type"], response.readline()


def test_json_answers_and_watch_streams_are_application_json(cluster: Cluster, ns: str) -> None:
    """Content-Type is `application/json` exactly, with no charset (kube-apiserver's)."""
    base = f"/apis/apps/v1/namespaces/{ns}/daemonsets"
    assert _raw(cluster.server, base)[0] == "application/json"
    kind, first = _raw(cluster.server, "/api/v1/namespaces?watch=1&timeoutSeconds=5")
    assert kind == "application/json"
    assert json.loads(first)["type"] == "ADDED"


def test_lightkube_create_or_get(cluster: Cluster, ns: str) -> None:
    """lightkube's idiom: create, and on ApiError 409 (AlreadyExists) get the existing one."""
    lk = _lightkube(cluster)
    ds = DaemonSet.from_dict(yaml.safe_load(daemonset_yaml("lk", ns)))
    assert isinstance(ds, DaemonSet)  # from_dict is typed as returning the base DictMixin
    created = lk.create(ds)

    def create_or_get() -> DaemonSet:
        try:
            return lk.create(ds)
        except ApiError as exc:
            if exc.status.code != 409 or exc.status.reason != "AlreadyExists":
                raise
            return lk.get(DaemonSet, "lk", namespace=ns)

    again = create_or_get()
    assert again.metadata is not None
    assert created.metadata is not None
    assert again.metadata.uid == created.metadata.uid
    with pytest.raises(ApiError) as missing:
        lk.get(DaemonSet, "nosuch", namespace=ns)
    assert missing.value.status.code == 404


def test_delete_answers_a_status_once_gone_and_the_object_while_finalizing(
    cluster: Cluster, ns: str
) -> None:
    """The official client's delete returns a Status naming the DaemonSet (kind: the
    resource, group, uid); one held by a finalizer is answered with itself, terminating."""
    configuration = client.Configuration()
    load_kube_config(config_file=str(cluster.server.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        apps: Any = client.AppsV1Api(api_client)
        body = yaml.safe_load(daemonset_yaml("gone", ns))
        uid = apps.create_namespaced_daemon_set(ns, body).metadata.uid
        status = apps.delete_namespaced_daemon_set("gone", ns)  # the client's decoded JSON
        assert status == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": "gone", "group": "apps", "kind": "daemonsets", "uid": uid},
        }

    held = yaml.safe_load(daemonset_yaml("held", ns))
    held["metadata"]["finalizers"] = ["example.com/hold"]
    path = f"/apis/apps/v1/namespaces/{ns}/daemonsets"
    assert cluster.api("POST", path, held)[0] == 201
    code, answer = cluster.api("DELETE", f"{path}/held")
    assert code == 200
    assert answer["kind"] == "DaemonSet"
    assert answer["metadata"]["deletionTimestamp"]
    code, answer = cluster.api(
        "DELETE", f"{path}/held", {"kind": "DeleteOptions", "orphanDependents": False}
    )
    assert code == 202, answer  # handlers/delete.go: not gone, cascading asked for
    cluster.api(
        "PATCH",
        f"{path}/held",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    # kubectl waits on the uid of either answer and says so
    kubectl_ds = cluster.write(f"{ns}/k.yaml", daemonset_yaml("k", ns))
    cluster.kubectl("create", "-f", str(kubectl_ds), check=True)
    out = cluster.kubectl("delete", "-n", ns, "daemonset", "k", check=True).stdout
    assert out.strip() == f'daemonset.apps "k" deleted from {ns} namespace'


def test_validation_refusals_in_kube_apiservers_words(cluster: Cluster, ns: str) -> None:
    """A DaemonSet without spec.selector, and a hostPath with a `..` step, are refused as
    kube-apiserver refuses them (the server's own words, kubectl's client check off)."""
    no_selector = yaml.safe_load(daemonset_yaml("nosel", ns))
    del no_selector["spec"]["selector"]
    code, status = cluster.api("POST", f"/apis/apps/v1/namespaces/{ns}/daemonsets", no_selector)
    assert code == 422
    assert "spec.selector: Required value" in status["message"]

    text = daemonset_yaml("dots", ns).replace("path: /var/log", "path: /var/log/../../etc")
    result = cluster.kubectl(
        "create", "--validate=false", "-f", str(cluster.write(f"{ns}/d.yaml", text))
    )
    assert result.returncode != 0
    assert (
        'spec.template.spec.volumes[0].hostPath.path: Invalid value: "/var/log/../../etc": '
        "must not contain '..'"
    ) in result.stderr


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server_process(
        tmp_path_factory.mktemp("debuglog") / "data", "--log-level", "debug"
    )
    yield server
    server.stop()


def _metric_lines(server: ServerProcess) -> list[str]:
    request = urllib.request.Request(
        server.url + "/metrics", headers={"Authorization": f"Bearer {server.admin_token}"}
    )
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        body: bytes = response.read()
    return body.decode().splitlines()


def test_requests_are_logged_and_counted_as_kube_apiserver(
    debug_server: ServerProcess, tmp_path: Path
) -> None:
    """Each of kubectl's requests is one `http_request` log line (verb, path, user, code,
    latency, user agent; never the token), and counted with kube-apiserver's labels."""

    def kubectl(*args: str) -> None:
        subprocess.run(
            [
                str(KUBECTL),
                "--kubeconfig",
                str(debug_server.kubeconfig),
                "--cache-dir",
                str(tmp_path / "cache"),
                *args,
            ],
            check=True,
            capture_output=True,
            env=debug_server.kubectl_env(),
            timeout=60,
        )

    kubectl("get", "namespaces")
    kubectl("get", "namespace", "default")
    kubectl("create", "namespace", "logged")
    kubectl("label", "namespace", "logged", "a=b")
    kubectl("delete", "namespace", "logged", "--wait=false")
    assert debug_server.log_path is not None

    def logged() -> list[dict[str, Any]] | None:
        lines = debug_server.log_path.read_text().splitlines()  # type: ignore[union-attr]
        records = [json.loads(x) for x in lines if '"http_request"' in x]
        deletes = [r for r in records if r["verb"] == "DELETE"]
        return records if deletes else None

    records = wait_for(logged, timeout=10, what="the DELETE's log line")
    by_verb = {(r["verb"], r["path"]): r for r in records}
    assert ("LIST", "/api/v1/namespaces") in by_verb
    assert ("GET", "/api/v1/namespaces/default") in by_verb
    assert ("POST", "/api/v1/namespaces") in by_verb
    assert ("PATCH", "/api/v1/namespaces/logged") in by_verb
    delete = by_verb["DELETE", "/api/v1/namespaces/logged"]
    assert delete["user"] == ADMIN.name
    assert delete["code"] == 200
    assert delete["user_agent"].startswith("kubectl")
    assert isinstance(delete["latency_ms"], float)
    assert debug_server.admin_token not in debug_server.log_path.read_text()

    lines = _metric_lines(debug_server)
    wanted = {
        ("LIST", "", "v1", "namespaces", "", "cluster", "200"),
        ("GET", "", "v1", "namespaces", "", "resource", "200"),
        ("POST", "", "v1", "namespaces", "", "resource", "201"),
        ("PATCH", "", "v1", "namespaces", "", "resource", "200"),
        ("DELETE", "", "v1", "namespaces", "", "resource", "200"),
    }
    counted = set()
    for line in lines:
        m = re.match(r"^apiserver_request_total\{(?P<labels>[^}]*)\} ", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
            assert labels["component"] == "apiserver"
            counted.add(
                tuple(
                    labels[k]
                    for k in (
                        "verb",
                        "group",
                        "version",
                        "resource",
                        "subresource",
                        "scope",
                        "code",
                    )
                )
            )
    assert wanted <= counted
    durations = [x for x in lines if x.startswith("apiserver_request_duration_seconds_count{")]
    assert any('verb="LIST"' in x and 'scope="cluster"' in x for x in durations)
