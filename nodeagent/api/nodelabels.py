"""PURE: which Node labels a node may set on itself (k8s.io/kubelet well_known_labels.go).

Kubernetes reserves the `kubernetes.io` and `k8s.io` label namespaces (and their subdomains).
A kubelet may set only the well-known ones in KUBELET_LABELS or under a prefix in
KUBELET_LABEL_NAMESPACES; `node-restriction.kubernetes.io` is the namespace an admin uses to
steer workloads to trusted nodes, so no node may ever touch it. Labels outside those
namespaces are free. The server's NodeRestriction (server/noderestriction.py) and the
agent's settings (agent/settings.py) both read these rules, so both refuse the same labels.
"""

from __future__ import annotations

from collections.abc import Iterable

# kubeletLabels: the exact keys a kubelet sets on its own Node (and their beta twins)
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    }
)
# kubeletLabelNamespaces: any key in these namespaces (or their subdomains) is the node's own
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
# v1.LabelNamespaceNodeRestriction: set by admins only, never by a node
NODE_RESTRICTION_NAMESPACE = "node-restriction.kubernetes.io"
RESERVED_NAMESPACES = ("kubernetes.io", "k8s.io")


def label_namespace(key: str) -> str:
    """The prefix before the `/` of a label key ("" when it has none)."""
    prefix, sep, _name = key.partition("/")
    return prefix if sep else ""


def _in(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def is_kubernetes_label(key: str) -> bool:
    """In a namespace Kubernetes reserves: kubernetes.io, k8s.io or a subdomain of either."""
    namespace = label_namespace(key)
    return any(_in(namespace, domain) for domain in RESERVED_NAMESPACES)


def is_kubelet_label(key: str) -> bool:
    """One of the reserved labels a kubelet may set on its own Node."""
    namespace = label_namespace(key)
    return key in KUBELET_LABELS or any(_in(namespace, ns) for ns in KUBELET_LABEL_NAMESPACES)


def forbidden_node_labels(keys: Iterable[str]) -> list[str]:
    """Of `keys` (labels a node adds, changes or removes), those it may not touch, sorted:
    the node-restriction namespace, and reserved labels outside the kubelet's set."""
    return sorted(
        {
            key
            for key in keys
            if _in(label_namespace(key), NODE_RESTRICTION_NAMESPACE)
            or (is_kubernetes_label(key) and not is_kubelet_label(key))
        }
    )


def modified_labels(new: dict[str, str], old: dict[str, str]) -> set[str]:
    """The keys added, removed or given another value between two label maps."""
    return {k for k in new.keys() | old.keys() if new.get(k) != old.get(k)}
