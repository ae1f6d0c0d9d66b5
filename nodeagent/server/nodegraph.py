"""PURE: the node authorizer's graph for the objects pods reference (Kubernetes'
plugin/pkg/auth/authorizer/node graph, for ConfigMaps, Secrets and ServiceAccounts): an
object is related to a node when a pod bound to that node names it, in a volume, env,
envFrom, a projected source, (Secrets) imagePullSecrets or (ServiceAccounts)
spec.serviceAccountName.

No I/O: the REST shell reads the asking node's pods (the store's spec.nodeName index) and
asks `related(pods, ...)`; auth.py decides with the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.server.noderestriction import configmap_names, secret_names


def service_account_names(spec: Obj) -> Iterator[str]:
    """The ServiceAccount a pod runs as (the graph's pod -> serviceAccount edge)."""
    name = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if isinstance(name, str) and name:
        yield name


# resource -> the names of that resource a pod spec references (rules as data)
REFERENCED: Mapping[str, Callable[[Obj], Iterator[str]]] = {
    "configmaps": configmap_names,
    "secrets": secret_names,
    "serviceaccounts": service_account_names,
}


def _map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def related(pods: Iterable[Obj], *, node: str, resource: str, namespace: str, name: str) -> bool:
    """Whether a pod bound to `node` in `namespace` references `resource` `name`."""
    names_of = REFERENCED.get(resource)
    if names_of is None or not name:
        return False
    for pod in pods:
        meta, spec = _map(pod.get("metadata")), _map(pod.get("spec"))
        if meta.get("namespace") != namespace or spec.get("nodeName") != node:
            continue
        if name in names_of(spec):
            return True
    return False
