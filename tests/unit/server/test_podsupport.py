"""What the agent cannot honour in a Pod or a DaemonSet's template is named, with its field
path, as kubectl's `Warning:` lines; what it honours gives no warning."""

from __future__ import annotations

from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.decode import decode_documents
from nodeagent.api.defaults import default_object
from nodeagent.server.podsupport import warnings_for
from tests.unit.api.conftest import FIXTURES


def pod(**spec: Any) -> Obj:
    return default_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
        }
    )


def test_supported_pod_has_no_warnings() -> None:
    """hostPath, emptyDir, the four projected kinds, env from objects: nothing to say."""
    spec = pod(
        volumes=[
            {"name": "h", "hostPath": {"path": "/var/log"}},
            {"name": "e", "emptyDir": {}},
            {"name": "c", "configMap": {"name": "c"}},
            {"name": "s", "secret": {"secretName": "s"}},
            {"name": "d", "downwardAPI": {"items": []}},
            {"name": "p", "projected": {"sources": [{"configMap": {"name": "c"}}]}},
        ],
        hostNetwork=True,
        tolerations=[{"operator": "Exists"}],
    )
    spec["spec"]["containers"][0]["env"] = [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
    ]
    assert warnings_for(spec) == []


def test_unsupported_things_are_named() -> None:
    """A volume kind, a pod field, a securityContext field, a resource, subPathExpr, an
    emptyDir medium the agent cannot honour: one line each; a named service account is fine
    (its token is mounted)."""
    spec = pod(
        volumes=[
            {"name": "data", "persistentVolumeClaim": {"claimName": "x"}},
            {"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        ],
        imagePullSecrets=[{"name": "pull"}],
        serviceAccountName="shipper",
        securityContext={"sysctls": [], "windowsOptions": {}},
    )
    container = spec["spec"]["containers"][0]
    container["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    container["volumeMounts"] = [{"name": "m", "mountPath": "/m", "subPathExpr": "$(POD)"}]
    container["securityContext"] = {"procMount": "Default"}
    assert warnings_for(spec) == [
        "spec.imagePullSecrets: not supported by the nodeagent agent; ignored",
        "spec.securityContext.windowsOptions: not supported by the nodeagent agent; ignored",
        "spec.volumes[0].persistentVolumeClaim: volume type persistentVolumeClaim is not "
        "supported by the nodeagent agent; containers run without this volume's mounts",
        "spec.volumes[1].emptyDir.medium: Memory is backed by disk",
        "spec.volumes[1].emptyDir.sizeLimit: not enforced",
        "spec.containers[0].securityContext.procMount: not supported by the nodeagent agent; "
        "ignored",
        "spec.containers[0].resources.limits[nvidia.com/gpu]: not supported by the nodeagent "
        "agent; ignored",
        "spec.containers[0].volumeMounts[0].subPathExpr: not supported by the nodeagent "
        "agent; the whole volume is mounted",
    ]


def test_daemonset_template_paths_and_seed_002() -> None:
    """Seed 002's kube-proxy (with its ServiceAccount) gets no warning at all."""
    (ds,) = decode_documents((FIXTURES / "kube-proxy-seed002.yaml").read_text(), source="x")
    assert warnings_for(default_object(ds)) == []


def test_other_kinds_have_none() -> None:
    assert warnings_for({"kind": "ConfigMap", "data": {"persistentVolumeClaim": "x"}}) == []
