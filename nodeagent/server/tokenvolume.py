"""PURE: the ServiceAccount admission's token volume, `kube-api-access-XXXXX`, added to a pod.

kube-apiserver's ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount), the
part that mounts the token: a pod created through the API (not a mirror pod) whose
automountServiceAccountToken is not false (the pod's field wins, then the ServiceAccount's)
gets a projected volume with the token (expirationSeconds 3607), `ca.crt` from the
`kube-root-ca.crt` ConfigMap (rootcapublisher.py) and `namespace` from the downward API,
mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every init and app
container that has nothing mounted there. The agent fills the volume (agent/satokens.py).
"""

from __future__ import annotations

from nodeagent.api.bodies import Obj
from nodeagent.api.meta import MIRROR_ANNOTATION

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_EXPIRATION = 3607  # kube-apiserver's: an hour and 7 s, a mark that it is the default one
DEFAULT_MODE = 0o644  # 420


def should_automount(pod: Obj, account: Obj | None) -> bool:
    """The pod's automountServiceAccountToken when set, else the ServiceAccount's, else true."""
    pod_says = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if isinstance(pod_says, bool):
        return pod_says
    account_says = (account or {}).get("automountServiceAccountToken")
    return account_says if isinstance(account_says, bool) else True


def token_volume(name: str) -> Obj:
    return {
        "name": name,
        "projected": {
            "defaultMode": DEFAULT_MODE,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION, "path": "token"}},
                {
                    "configMap": {
                        "name": ROOT_CA_CONFIGMAP,
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


def add_token_volume(pod: Obj, account: Obj | None, *, suffix: str) -> None:
    """Add the token volume and its mounts to `pod` in place, when it should have them.

    `suffix`: five random characters (the caller draws them, as generateName does)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    spec = pod.get("spec")
    if MIRROR_ANNOTATION in annotations or not isinstance(spec, dict):
        return
    if not should_automount(pod, account):
        return
    containers = [
        c
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]
    needing = [
        c
        for c in containers
        if not any(
            isinstance(m, dict) and m.get("mountPath") == MOUNT_PATH
            for m in c.get("volumeMounts") or []
        )
    ]
    if not needing:
        return
    volumes = spec.get("volumes")
    if not isinstance(volumes, list):
        volumes = spec["volumes"] = []
    taken = {v.get("name") for v in volumes if isinstance(v, dict)}
    name = VOLUME_PREFIX + suffix
    if name in taken:
        return
    volumes.append(token_volume(name))
    for container in needing:
        mounts = container.get("volumeMounts")
        if not isinstance(mounts, list):
            mounts = container["volumeMounts"] = []
        mounts.append({"name": name, "readOnly": True, "mountPath": MOUNT_PATH})
