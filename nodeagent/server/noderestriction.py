"""PURE: Kubernetes' NodeRestriction admission: what a node may write, judged on the objects.

The node authorizer (auth.py) decides from the request alone, before anything is read; this
module decides once the registry holds the stored object and the one about to be written,
as kube-apiserver's NodeRestriction plugin does (plugin/pkg/admission/noderestriction):

- pods: a node creates only mirror pods bound to itself, owned by its own Node (kind, name and
  uid), referencing no service account, secret, configmap, cluster trust bundle or claim; it
  deletes only pods bound to itself; it updates only the status of pods bound to itself, and
  not their labels through it;
- nodes: a node writes only its own Node; at registration it may set any taints but only the
  labels kubelet may set (api/nodelabels.py); afterwards it may not change its taints, its
  ownerReferences, a configSource, nor any reserved label outside kubelet's set;
- leases: only its own, in kube-node-lease;
- serviceaccounts/token: a node's TokenRequest is bound to a pod (kind Pod, apiVersion v1,
  name and uid) that exists, with that uid, bound to the node.

`admit(node, write)` returns None or the error to answer, worded as kube-apiserver words it.
No I/O: the caller passes the stored object and, for a pod create, its Node's uid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import APIError, Forbidden, NotFound
from nodeagent.api.meta import MIRROR_ANNOTATION
from nodeagent.api.nodelabels import forbidden_node_labels, modified_labels
from nodeagent.api.resources import BY_NAME

Operation = Literal["CREATE", "UPDATE", "DELETE"]

LEASE_NAMESPACE = "kube-node-lease"


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """One write as admission sees it: the object as it would be written (CREATE, UPDATE;
    for a patch, the patched object) and the stored one (UPDATE, DELETE)."""

    operation: Operation
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    obj: Obj | None = None
    old: Obj | None = None
    node_uid: str | None = None  # the writing node's Node uid (pod create); None: no Node
    # serviceaccounts/token: the pod the TokenRequest names in boundObjectRef, as stored
    # (None: not found or none named)
    bound_pod: Obj | None = None


def admit(node: str, w: Write) -> APIError | None:
    """None when node `node` may make this write, else the error kube-apiserver answers."""
    rule = ADMISSION.get(w.resource)
    return rule(node, w) if rule is not None else None


# ---- wording


def q(text: str) -> str:
    """Go's %q for the names in these messages."""
    return json.dumps(text, ensure_ascii=False)


def deny(w: Write, reason: str) -> Forbidden:
    """admission.NewForbidden: `<resource> "<name>" is forbidden: <reason>`."""
    r = BY_NAME.get(w.resource)
    group = r.group if r is not None else ""
    qualified = r.qualified_name if r is not None else w.resource
    subject = f"{qualified} {q(w.name)}" if w.name else qualified
    return Forbidden(f"{subject} is forbidden: {reason}", name=w.name, group=group, kind=w.resource)


# ---- reading objects (wrongly typed fields read as empty)


def _map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _meta(obj: Obj | None) -> Obj:
    return _map((obj or {}).get("metadata"))


def _spec(obj: Obj | None) -> Obj:
    return _map((obj or {}).get("spec"))


def _labels(obj: Obj | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in _map(_meta(obj).get("labels")).items()}


def _node_name(obj: Obj | None) -> str:
    return str(_spec(obj).get("nodeName") or "")


# ---- pods


def _pods(node: str, w: Write) -> APIError | None:
    if w.subresource == "status":
        return _pod_status(node, w)
    if w.subresource:
        return deny(
            w,
            f"unexpected pod subresource {q(w.subresource)}, only 'status' and 'eviction' "
            "are allowed",
        )
    if w.operation == "CREATE":
        return _mirror_pod_create(node, w)
    if w.operation == "DELETE":
        if _node_name(w.old) != node:
            return deny(w, f"node {q(node)} can only delete pods with spec.nodeName set to itself")
        return None
    return deny(
        w,
        f"unexpected operation {q(w.operation)}, node {q(node)} can only create and delete "
        "mirror pods",
    )


def _mirror_pod_create(node: str, w: Write) -> APIError | None:
    pod = w.obj or {}
    if MIRROR_ANNOTATION not in _map(_meta(pod).get("annotations")):
        return deny(
            w,
            f"pod does not have {q(MIRROR_ANNOTATION)} annotation, node {q(node)} can only "
            "create mirror pods",
        )
    if _node_name(pod) != node:
        return deny(w, f"node {q(node)} can only create pods with spec.nodeName set to itself")
    refused = _owner_refused(node, w, _list(_meta(pod).get("ownerReferences")))
    if refused is not None:
        return refused
    spec = _spec(pod)
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        return deny(w, f"node {q(node)} can not create pods that reference a service account")
    for what, found in REFERENCES:
        if next(found(spec), None) is not None:
            return deny(w, f"node {q(node)} can not create pods that reference {what}")
    return None


def _owner_refused(node: str, w: Write, owners: list[Any]) -> APIError | None:
    """A mirror pod has exactly one owner: its Node, as controller, not blocking deletion."""
    if len(owners) > 1:
        return deny(
            w, f"node {q(node)} can only create pods with a single owner reference set to itself"
        )
    owner = _map(owners[0]) if owners else {}
    if not owner or (owner.get("apiVersion"), owner.get("kind"), owner.get("name")) != (
        "v1",
        "Node",
        node,
    ):
        return deny(w, f"node {q(node)} can only create pods with an owner reference set to itself")
    if owner.get("controller") is not True:
        return deny(
            w,
            f"node {q(node)} can only create pods with a controller owner reference set to itself",
        )
    if owner.get("blockOwnerDeletion") is True:
        return deny(w, f"node {q(node)} must not set blockOwnerDeletion on an owner reference")
    if w.node_uid is None:  # the lister's NotFound, answered as it is
        return NotFound(f"nodes {q(node)} not found", name=node, kind="nodes")
    if owner.get("uid") != w.node_uid:
        return deny(w, f"node {node} UID mismatch: expected {owner.get('uid')} got {w.node_uid}")
    return None


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _list(spec.get(key)):
            yield _map(c)


def _env_refs(spec: Obj, from_key: str, ref_key: str) -> Iterator[str]:
    """Names in envFrom[].<from_key> and env[].valueFrom.<ref_key> of every container."""
    for c in _containers(spec):
        for source in _list(c.get("envFrom")):
            yield str(_map(_map(source).get(from_key)).get("name") or "")
        for var in _list(c.get("env")):
            yield str(_map(_map(_map(var).get("valueFrom")).get(ref_key)).get("name") or "")


def _projected(spec: Obj, kind: str) -> Iterator[Obj]:
    for volume in _list(spec.get("volumes")):
        for source in _list(_map(_map(volume).get("projected")).get("sources")):
            if kind in _map(source):
                yield _map(_map(source)[kind])


# volume sources naming a secret, and the field that names it (podutil.VisitPodSecretNames)
SECRET_VOLUME_REFS: Mapping[str, Callable[[Obj], str]] = {
    "secret": lambda v: str(v.get("secretName") or ""),
    "azureFile": lambda v: str(v.get("secretName") or ""),
    "csi": lambda v: str(_map(v.get("nodePublishSecretRef")).get("name") or ""),
    **{
        source: (lambda v: str(_map(v.get("secretRef")).get("name") or ""))
        for source in ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "storageos")
    },
}


def secret_names(spec: Obj) -> Iterator[str]:
    """The Secrets a pod spec names (podutil.VisitPodSecretNames): imagePullSecrets, env,
    envFrom, projected sources and volume sources."""
    names = [str(_map(ref).get("name") or "") for ref in _list(spec.get("imagePullSecrets"))]
    names += _env_refs(spec, "secretRef", "secretKeyRef")
    names += [str(s.get("name") or "") for s in _projected(spec, "secret")]
    for volume in _list(spec.get("volumes")):
        for source, name_of in SECRET_VOLUME_REFS.items():
            if isinstance(_map(volume).get(source), dict):
                names.append(name_of(_map(volume)[source]))
    return (n for n in names if n)


def configmap_names(spec: Obj) -> Iterator[str]:
    """The ConfigMaps a pod spec names: env, envFrom, projected sources, configMap volumes."""
    names = list(_env_refs(spec, "configMapRef", "configMapKeyRef"))
    names += [str(s.get("name") or "") for s in _projected(spec, "configMap")]
    names += [
        str(_map(_map(v).get("configMap")).get("name") or "") for v in _list(spec.get("volumes"))
    ]
    return (n for n in names if n)


def _trust_bundles(spec: Obj) -> Iterator[Obj]:
    return _projected(spec, "clusterTrustBundle")


def _claims(spec: Obj) -> Iterator[Obj]:
    return (
        _map(v)
        for v in _list(spec.get("volumes"))
        if isinstance(_map(v).get("persistentVolumeClaim"), dict)
    )


# what a mirror pod may not reference, in the order NodeRestriction checks (rules as data)
REFERENCES: tuple[tuple[str, Callable[[Obj], Iterator[Any]]], ...] = (
    ("secrets", secret_names),
    ("configmaps", configmap_names),
    ("clustertrustbundles", _trust_bundles),
    ("persistentvolumeclaims", _claims),
)


def _pod_status(node: str, w: Write) -> APIError | None:
    if w.operation != "UPDATE":
        return deny(w, f"unexpected operation {q(w.operation)}")
    if _node_name(w.old) != node:
        return deny(
            w,
            f"node {q(node)} can only update pod status for pods with spec.nodeName set to itself",
        )
    if _labels(w.obj) != _labels(w.old):
        return deny(w, f"node {q(node)} cannot update labels through pod status")
    if _claim_statuses(w.obj) != _claim_statuses(w.old):
        return deny(w, f"node {q(node)} cannot update resource claim statues")  # sic
    return None


def _claim_statuses(pod: Obj | None) -> list[tuple[str, str | None]]:
    statuses = _list(_map((pod or {}).get("status")).get("resourceClaimStatuses"))
    return [(str(_map(s).get("name")), _map(s).get("resourceClaimName")) for s in statuses]


# ---- nodes


def _nodes(node: str, w: Write) -> APIError | None:
    if w.name != node:
        return deny(w, f"node {q(node)} is not allowed to modify node {q(w.name)}")
    if w.operation == "CREATE":
        if _spec(w.obj).get("configSource") is not None:
            # (sic: kube-apiserver says "pods" here)
            return deny(
                w, f"node {q(node)} is not allowed to create pods with a non-nil configSource"
            )
        forbidden = forbidden_node_labels(_labels(w.obj))
        if forbidden:
            return deny(
                w,
                f"node {q(node)} is not allowed to set the following labels: "
                + ", ".join(forbidden),
            )
    if w.operation == "UPDATE":
        source = _spec(w.obj).get("configSource")
        if source is not None and source != _spec(w.old).get("configSource"):
            return deny(
                w,
                f"node {q(node)} is not allowed to update configSource to a new non-nil "
                "configSource",
            )
        # empty and absent are the same list (apiequality.Semantic)
        if (_spec(w.obj).get("taints") or []) != (_spec(w.old).get("taints") or []):
            return deny(w, f"node {q(node)} is not allowed to modify taints")
        if (_meta(w.obj).get("ownerReferences") or []) != (
            _meta(w.old).get("ownerReferences") or []
        ):  # CVE-2025-5187: an owner that goes would have the collector delete the Node
            return deny(w, f"node {q(node)} is not allowed to modify ownerReferences")
        forbidden = forbidden_node_labels(modified_labels(_labels(w.obj), _labels(w.old)))
        if forbidden:  # (sic: kube-apiserver names no node here)
            return deny(w, "is not allowed to modify labels: " + ", ".join(forbidden))
    return None


# ---- leases


def _leases(node: str, w: Write) -> APIError | None:
    if w.namespace != LEASE_NAMESPACE:
        return deny(w, f"can only access leases in the {q(LEASE_NAMESPACE)} system namespace")
    if w.name != node:
        return deny(w, "can only access node lease with the same name as the requesting node")
    return None


# ---- serviceaccounts/token


def _service_accounts(node: str, w: Write) -> APIError | None:
    """admitServiceAccount: a node's TokenRequest must be bound to one of its pods."""
    if w.operation != "CREATE" or w.subresource != "token":
        return None
    ref = _map(_spec(w.obj).get("boundObjectRef"))
    if not ref or ref.get("apiVersion") != "v1" or ref.get("kind") != "Pod" or not ref.get("name"):
        return deny(w, "node requested token not bound to a pod")
    if not ref.get("uid"):
        return deny(w, "node requested token with a pod binding without a uid")
    if w.bound_pod is None:
        name = str(ref.get("name"))
        return NotFound(f"pods {q(name)} not found", name=name, kind="pods")
    if _meta(w.bound_pod).get("uid") != ref.get("uid"):
        return deny(
            w,
            f"the UID in the bound object reference ({ref.get('uid')}) does not match the UID "
            "in record. The object might have been deleted and then recreated",
        )
    if _node_name(w.bound_pod) != node:
        return deny(w, "node requested token bound to a pod scheduled on a different node")
    return None


# resource -> its admission rule; resources not named here are the authorizer's alone
ADMISSION: Mapping[str, Callable[[str, Write], APIError | None]] = {
    "pods": _pods,
    "nodes": _nodes,
    "leases": _leases,
    "serviceaccounts": _service_accounts,
}
