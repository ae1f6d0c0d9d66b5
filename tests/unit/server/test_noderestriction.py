"""NodeRestriction's pure decisions: node n1's writes, each answered as kube-apiserver answers."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import Forbidden, NotFound
from nodeagent.api.meta import MIRROR_ANNOTATION
from nodeagent.api.nodelabels import forbidden_node_labels, is_kubelet_label
from nodeagent.server.noderestriction import Write, admit

UID = "uid-of-n1"
OWNER = {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": UID, "controller": True}


def mirror(**spec: Any) -> Obj:
    owners = spec.pop("owners", [OWNER])
    return {
        "metadata": {
            "name": "static-n1",
            "namespace": "default",
            "annotations": {MIRROR_ANNOTATION: "h"},
            "ownerReferences": owners,
        },
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}], **spec},
    }


def create_pod(pod: Obj, node_uid: str | None = UID) -> Write:
    return Write(
        operation="CREATE",
        resource="pods",
        namespace="default",
        name=pod["metadata"]["name"],
        obj=pod,
        node_uid=node_uid,
    )


def node(name: str = "n1", labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def update_node(old: Obj, new: Obj, subresource: str = "") -> Write:
    return Write(
        operation="UPDATE",
        resource="nodes",
        subresource=subresource,
        name=old["metadata"]["name"],
        obj=new,
        old=old,
    )


def with_meta(pod: Obj, **meta: Any) -> Obj:
    return {**pod, "metadata": {**pod["metadata"], **meta}}


TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
POD_N1 = {"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"nodeName": "n1"}}
POD_N2 = {"metadata": {"name": "q"}, "spec": {"nodeName": "n2"}}

REFUSED: list[tuple[str, Write, str]] = [
    (
        "plain pod",
        create_pod({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}}),
        'pods "p" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, '
        'node "n1" can only create mirror pods',
    ),
    (
        "mirror pod on n2",
        create_pod(mirror(nodeName="n2")),
        'pods "static-n1" is forbidden: node "n1" can only create pods with spec.nodeName set '
        "to itself",
    ),
    (
        "mirror pod without owner",
        create_pod(mirror(owners=[])),
        'pods "static-n1" is forbidden: node "n1" can only create pods with an owner reference '
        "set to itself",
    ),
    (
        "mirror pod owned by a DaemonSet",
        create_pod(
            mirror(
                owners=[{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "u"}]
            )
        ),
        'pods "static-n1" is forbidden: node "n1" can only create pods with an owner reference '
        "set to itself",
    ),
    (
        "mirror pod owned by n2",
        create_pod(mirror(owners=[{**OWNER, "name": "n2"}])),
        'pods "static-n1" is forbidden: node "n1" can only create pods with an owner reference '
        "set to itself",
    ),
    (
        "two owners",
        create_pod(mirror(owners=[OWNER, OWNER])),
        'pods "static-n1" is forbidden: node "n1" can only create pods with a single owner '
        "reference set to itself",
    ),
    (
        "owner not controller",
        create_pod(mirror(owners=[{**OWNER, "controller": False}])),
        'pods "static-n1" is forbidden: node "n1" can only create pods with a controller owner '
        "reference set to itself",
    ),
    (
        "blockOwnerDeletion",
        create_pod(mirror(owners=[{**OWNER, "blockOwnerDeletion": True}])),
        'pods "static-n1" is forbidden: node "n1" must not set blockOwnerDeletion on an owner '
        "reference",
    ),
    (
        "another uid",
        create_pod(mirror(owners=[{**OWNER, "uid": "old-uid"}])),
        'pods "static-n1" is forbidden: node n1 UID mismatch: expected old-uid got uid-of-n1',
    ),
    (
        "service account",
        create_pod(mirror(serviceAccountName="default")),
        'pods "static-n1" is forbidden: node "n1" can not create pods that reference a service '
        "account",
    ),
    (
        "secret volume",
        create_pod(mirror(volumes=[{"name": "v", "secret": {"secretName": "s"}}])),
        'pods "static-n1" is forbidden: node "n1" can not create pods that reference secrets',
    ),
    (
        "secret env",
        create_pod(
            mirror(
                containers=[
                    {
                        "name": "c",
                        "image": "i",
                        "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s"}}}],
                    }
                ]
            )
        ),
        'pods "static-n1" is forbidden: node "n1" can not create pods that reference secrets',
    ),
    (
        "image pull secret",
        create_pod(mirror(imagePullSecrets=[{"name": "regcred"}])),
        'pods "static-n1" is forbidden: node "n1" can not create pods that reference secrets',
    ),
    (
        "configmap envFrom",
        create_pod(
            mirror(
                initContainers=[
                    {"name": "i", "image": "i", "envFrom": [{"configMapRef": {"name": "cm"}}]}
                ]
            )
        ),
        'pods "static-n1" is forbidden: node "n1" can not create pods that reference configmaps',
    ),
    (
        "projected configmap",
        create_pod(
            mirror(
                volumes=[{"name": "v", "projected": {"sources": [{"configMap": {"name": "c"}}]}}]
            )
        ),
        'pods "static-n1" is forbidden: node "n1" can not create pods that reference configmaps',
    ),
    (
        "persistent volume claim",
        create_pod(mirror(volumes=[{"name": "v", "persistentVolumeClaim": {"claimName": "c"}}])),
        'pods "static-n1" is forbidden: node "n1" can not create pods that reference '
        "persistentvolumeclaims",
    ),
    (
        "delete n2's pod",
        Write(operation="DELETE", resource="pods", namespace="default", name="q", old=POD_N2),
        'pods "q" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself',
    ),
    (
        "update a pod",
        Write(operation="UPDATE", resource="pods", name="p", obj=POD_N1, old=POD_N1),
        'pods "p" is forbidden: unexpected operation "UPDATE", node "n1" can only create and '
        "delete mirror pods",
    ),
    (
        "status of n2's pod",
        Write(
            operation="UPDATE",
            resource="pods",
            subresource="status",
            name="q",
            obj=POD_N2,
            old=POD_N2,
        ),
        'pods "q" is forbidden: node "n1" can only update pod status for pods with spec.nodeName '
        "set to itself",
    ),
    (
        "labels through pod status",
        Write(
            operation="UPDATE",
            resource="pods",
            subresource="status",
            name="p",
            obj=with_meta(POD_N1, labels={"a": "2"}),
            old=POD_N1,
        ),
        'pods "p" is forbidden: node "n1" cannot update labels through pod status',
    ),
    (
        "register another node",
        Write(operation="CREATE", resource="nodes", name="rogue", obj=node("rogue")),
        'nodes "rogue" is forbidden: node "n1" is not allowed to modify node "rogue"',
    ),
    (
        "update another node",
        update_node(node("n2"), node("n2", {"x": "y"})),
        'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"',
    ),
    (
        "register with node-role",
        Write(
            operation="CREATE",
            resource="nodes",
            name="n1",
            obj=node(labels={"node-role.kubernetes.io/control-plane": "", "x": "y"}),
        ),
        'nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: '
        "node-role.kubernetes.io/control-plane",
    ),
    (
        "register with configSource",
        Write(operation="CREATE", resource="nodes", name="n1", obj=node(configSource={})),
        'nodes "n1" is forbidden: node "n1" is not allowed to create pods with a non-nil '
        "configSource",
    ),
    (
        "add node-role",
        update_node(node(), node(labels={"node-role.kubernetes.io/x": ""})),
        'nodes "n1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/x',
    ),
    (
        "add node-restriction labels",
        update_node(
            node(),
            node(
                labels={
                    "node-restriction.kubernetes.io/b": "1",
                    "a.node-restriction.kubernetes.io/a": "1",
                }
            ),
        ),
        'nodes "n1" is forbidden: is not allowed to modify labels: '
        "a.node-restriction.kubernetes.io/a, node-restriction.kubernetes.io/b",
    ),
    (
        "remove an admin's reserved label",
        update_node(node(labels={"node-role.kubernetes.io/db": ""}), node()),
        'nodes "n1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/db',
    ),
    (
        "remove an admin's taint",
        update_node(node(taints=[TAINT]), node(taints=[])),
        'nodes "n1" is forbidden: node "n1" is not allowed to modify taints',
    ),
    (
        "add a taint after registration",
        update_node(node(), node(taints=[TAINT])),
        'nodes "n1" is forbidden: node "n1" is not allowed to modify taints',
    ),
    (
        "taints through status",
        update_node(node(taints=[TAINT]), node(), subresource="status"),
        'nodes "n1" is forbidden: node "n1" is not allowed to modify taints',
    ),
    (
        "own ownerReferences",
        update_node(
            node(),
            with_meta(
                node(), ownerReferences=[{"apiVersion": "v1", "kind": "Namespace", "name": "x"}]
            ),
        ),
        'nodes "n1" is forbidden: node "n1" is not allowed to modify ownerReferences',
    ),
    (
        "configSource",
        update_node(node(), node(configSource={"configMap": {"name": "x"}})),
        'nodes "n1" is forbidden: node "n1" is not allowed to update configSource to a new '
        "non-nil configSource",
    ),
    (
        "n2's lease",
        Write(
            operation="CREATE",
            resource="leases",
            namespace="kube-node-lease",
            name="n2",
            obj={"metadata": {"name": "n2"}},
        ),
        'leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same '
        "name as the requesting node",
    ),
    (
        "a lease elsewhere",
        Write(operation="CREATE", resource="leases", namespace="default", name="n1"),
        'leases.coordination.k8s.io "n1" is forbidden: can only access leases in the '
        '"kube-node-lease" system namespace',
    ),
]


@pytest.mark.parametrize(
    ("write", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused_with_kubernetes_message(write: Write, message: str) -> None:
    """Each refused write is a Forbidden worded as kube-apiserver's NodeRestriction words it."""
    error = admit("n1", write)
    assert isinstance(error, Forbidden)
    assert (error.code, error.reason, error.message) == (403, "Forbidden", message)
    assert error.name == write.name


ALLOWED: list[tuple[str, Write]] = [
    ("mirror pod owned by its Node", create_pod(mirror())),
    (
        "mirror pod with host volumes and env values",
        create_pod(
            mirror(
                volumes=[
                    {"name": "h", "hostPath": {"path": "/var/log"}},
                    {"name": "e", "emptyDir": {}},
                ],
                containers=[{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}],
            )
        ),
    ),
    (
        "delete its own pod",
        Write(operation="DELETE", resource="pods", name="p", old=POD_N1),
    ),
    (
        "status of its pod",
        Write(
            operation="UPDATE",
            resource="pods",
            subresource="status",
            name="p",
            obj={**POD_N1, "status": {"phase": "Running"}},
            old=POD_N1,
        ),
    ),
    (
        "register with taints and kubelet's labels",
        Write(
            operation="CREATE",
            resource="nodes",
            name="n1",
            obj=node(
                labels={
                    "kubernetes.io/hostname": "n1",
                    "node.kubernetes.io/instance-type": "m",
                    "kubelet.kubernetes.io/x": "1",
                    "team": "db",
                },
                taints=[TAINT],
            ),
        ),
    ),
    (
        "keep an admin's labels and taints while adding its own",
        update_node(
            node(labels={"node-role.kubernetes.io/db": ""}, taints=[TAINT]),
            node(
                labels={"node-role.kubernetes.io/db": "", "topology.kubernetes.io/zone": "z"},
                taints=[TAINT],
            ),
        ),
    ),
    ("no taints is an empty list", update_node(node(taints=[]), node())),
    ("cordon itself", update_node(node(), node(unschedulable=True))),
    (
        "its lease",
        Write(operation="UPDATE", resource="leases", namespace="kube-node-lease", name="n1"),
    ),
    ("events", Write(operation="CREATE", resource="events", namespace="default", name="e")),
]


@pytest.mark.parametrize("write", [r[1] for r in ALLOWED], ids=[r[0] for r in ALLOWED])
def test_allowed(write: Write) -> None:
    """What kubelet does on its own node passes."""
    assert admit("n1", write) is None


def test_mirror_pod_before_its_node_is_registered_is_the_node_not_found() -> None:
    """With no Node to own the mirror pod, kube-apiserver answers its lister's NotFound."""
    error = admit("n1", create_pod(mirror(), node_uid=None))
    assert isinstance(error, NotFound)
    assert (error.code, error.message) == (404, 'nodes "n1" not found')


@pytest.mark.parametrize(
    ("key", "kubelet"),
    [
        ("kubernetes.io/hostname", True),
        ("beta.kubernetes.io/instance-type", True),
        ("failure-domain.beta.kubernetes.io/zone", True),
        ("node.kubernetes.io/exclude-from-external-load-balancers", True),
        ("x.kubelet.kubernetes.io/y", True),
        ("node-role.kubernetes.io/worker", False),
        ("beta.kubernetes.io/fluentd-ds-ready", False),
        ("app.kubernetes.io/name", False),
        ("example.k8s.io/a", False),
    ],
)
def test_kubelet_labels(key: str, kubelet: bool) -> None:
    """kubelet's label set (well_known_labels.go): exact keys and two namespaces."""
    assert is_kubelet_label(key) is kubelet
    assert (forbidden_node_labels([key]) == []) is kubelet
    assert forbidden_node_labels(["team", "example.com/x"]) == []
