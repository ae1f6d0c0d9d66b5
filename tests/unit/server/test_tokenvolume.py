"""The ServiceAccount admission's token volume and the root CA ConfigMap, as kube-apiserver and
kube-controller-manager make them."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.rootcapublisher import (
    DESCRIPTION,
    needs_update,
    wanted_configmap,
)
from nodeagent.server.tokenvolume import MOUNT_PATH, add_token_volume, should_automount

MOUNT = {"name": "kube-api-access-abcde", "readOnly": True, "mountPath": MOUNT_PATH}


def pod(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "initContainers": [{"name": "i", "image": "x"}],
            "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
            **spec,
        },
    }


def test_every_container_gets_the_volume_read_only() -> None:
    """kube-api-access-XXXXX: token 3607 s, ca.crt, namespace; mounted in each container."""
    p = pod()
    add_token_volume(p, {"metadata": {"name": "default"}}, suffix="abcde")
    assert p["spec"]["volumes"] == [
        {
            "name": "kube-api-access-abcde",
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt",
                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                        "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ],
            },
        }
    ]  # fmt: skip
    for c in p["spec"]["initContainers"] + p["spec"]["containers"]:
        assert c["volumeMounts"] == [MOUNT]


@pytest.mark.parametrize(
    ("pod_says", "account_says", "mounted"),
    [(None, None, True), (False, None, False), (None, False, False), (True, False, True),
     (False, True, False)],
    ids=["default", "pod-false", "account-false", "pod-true-wins", "pod-false-wins"],
)  # fmt: skip
def test_automount_pod_over_account(
    pod_says: bool | None, account_says: bool | None, mounted: bool
) -> None:
    """The pod's automountServiceAccountToken wins, then the ServiceAccount's, then true."""
    p = pod() if pod_says is None else pod(automountServiceAccountToken=pod_says)
    account: Obj = {} if account_says is None else {"automountServiceAccountToken": account_says}
    assert should_automount(p, account) is mounted
    add_token_volume(p, account, suffix="abcde")
    assert ("volumes" in p["spec"]) is mounted


def test_own_mount_at_the_path_is_kept() -> None:
    """A container that mounts something at the path keeps it; others get the volume; a pod
    whose containers all have one gets no volume; a mirror pod is left alone."""
    own = {"name": "mine", "mountPath": MOUNT_PATH}
    p = pod()
    p["spec"]["containers"][0]["volumeMounts"] = [own]
    add_token_volume(p, None, suffix="abcde")
    assert p["spec"]["containers"][0]["volumeMounts"] == [own]
    assert p["spec"]["containers"][1]["volumeMounts"] == [MOUNT]
    p = {"metadata": {}, "spec": {"containers": [{"name": "a", "volumeMounts": [own]}]}}
    add_token_volume(p, None, suffix="abcde")
    assert "volumes" not in p["spec"]
    mirror = pod()
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "h"}
    add_token_volume(mirror, None, suffix="abcde")
    assert "volumes" not in mirror["spec"]


def test_root_ca_configmap() -> None:
    """ca.crt and kube-controller-manager's description; changed data or a lost annotation
    is put back, extra labels are no reason to write."""
    cm = wanted_configmap("ns", "PEM")
    assert cm["data"] == {"ca.crt": "PEM"}
    assert cm["metadata"]["annotations"] == {"kubernetes.io/description": DESCRIPTION}
    assert not needs_update({**cm, "metadata": {**cm["metadata"], "labels": {"a": "b"}}}, "PEM")
    assert needs_update({**cm, "data": {"ca.crt": "OLD"}}, "PEM")
    assert needs_update({**cm, "data": {"ca.crt": "PEM", "extra": "x"}}, "PEM")
    assert needs_update({**cm, "metadata": {"name": "kube-root-ca.crt"}}, "PEM")
