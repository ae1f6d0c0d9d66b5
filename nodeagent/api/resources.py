"""The API resources this project serves, as data: one row per resource.

Discovery, REST routing, the store and the OpenAPI document are all generated from this
table, so adding a kind is adding a row (rules as data).
"""

from __future__ import annotations

from dataclasses import dataclass

RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resource:
    name: str  # plural, the URL segment and the store key: "daemonsets"
    singular: str
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified_name(self) -> str:
        """As Kubernetes names it in messages: `daemonsets.apps`, `pods`."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def path_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


RESOURCES: tuple[Resource, ...] = (
    Resource(
        name="namespaces",
        singular="namespace",
        kind="Namespace",
        group="",
        version="v1",
        namespaced=False,
        short_names=("ns",),
        subresources=("status",),
    ),
    Resource(
        name="nodes",
        singular="node",
        kind="Node",
        group="",
        version="v1",
        namespaced=False,
        short_names=("no",),
        subresources=("status",),
    ),
    Resource(
        name="pods",
        singular="pod",
        kind="Pod",
        group="",
        version="v1",
        namespaced=True,
        short_names=("po",),
        categories=("all",),
        subresources=("status", "log", "exec", "attach", "eviction"),
    ),
    # Read-only and always empty: this server holds no Services. Served so that clients that
    # look for them (kubectl cluster-info lists kube-system's cluster services) get an empty
    # list instead of "the server doesn't have a resource type"; writes answer 405.
    Resource(
        name="services",
        singular="service",
        kind="Service",
        group="",
        version="v1",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        verbs=("get", "list", "watch"),
    ),
    Resource(
        name="configmaps",
        singular="configmap",
        kind="ConfigMap",
        group="",
        version="v1",
        namespaced=True,
        short_names=("cm",),
    ),
    Resource(
        name="secrets",
        singular="secret",
        kind="Secret",
        group="",
        version="v1",
        namespaced=True,
    ),
    Resource(
        name="serviceaccounts",
        singular="serviceaccount",
        kind="ServiceAccount",
        group="",
        version="v1",
        namespaced=True,
        short_names=("sa",),
        subresources=("token",),  # TokenRequest: server/rest/tokenrequest.py
    ),
    Resource(
        name="events",
        singular="event",
        kind="Event",
        group="",
        version="v1",
        namespaced=True,
        short_names=("ev",),
    ),
    Resource(
        name="daemonsets",
        singular="daemonset",
        kind="DaemonSet",
        group="apps",
        version="v1",
        namespaced=True,
        short_names=("ds",),
        categories=("all",),
        subresources=("status",),
    ),
    Resource(
        name="controllerrevisions",
        singular="controllerrevision",
        kind="ControllerRevision",
        group="apps",
        version="v1",
        namespaced=True,
    ),
    Resource(
        name="leases",
        singular="lease",
        kind="Lease",
        group="coordination.k8s.io",
        version="v1",
        namespaced=True,
    ),
    # rbac.authorization.k8s.io/v1: who may do what (server/rbac.py decides, docs/rbac.md)
    Resource(
        name="roles",
        singular="role",
        kind="Role",
        group=RBAC_GROUP,
        version="v1",
        namespaced=True,
    ),
    Resource(
        name="clusterroles",
        singular="clusterrole",
        kind="ClusterRole",
        group=RBAC_GROUP,
        version="v1",
        namespaced=False,
    ),
    Resource(
        name="rolebindings",
        singular="rolebinding",
        kind="RoleBinding",
        group=RBAC_GROUP,
        version="v1",
        namespaced=True,
    ),
    Resource(
        name="clusterrolebindings",
        singular="clusterrolebinding",
        kind="ClusterRoleBinding",
        group=RBAC_GROUP,
        version="v1",
        namespaced=False,
    ),
)

# Create-only reviews, answered at once from the server's authenticator and authorizer and
# never stored (server/rest/selfreview.py). They are not in RESOURCES (no store, no REST
# routes of their own) but discovery lists them, as kube-apiserver does: `kubectl
# api-resources` shows them and `kubectl create -f` finds a SubjectAccessReview's resource.
REVIEWS: tuple[Resource, ...] = tuple(
    Resource(
        name=f"{kind.lower()}s",
        singular=kind.lower(),
        kind=kind,
        group=group,
        version="v1",
        namespaced=kind == "LocalSubjectAccessReview",
        verbs=("create",),
    )
    for group, kind in (
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authorization.k8s.io", "LocalSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
    )
)
# Read-only kinds computed on each request, never stored: v1 ComponentStatus (`kubectl get
# cs`), the server's readiness checks (server/rest/componentstatus.py).
COMPUTED: tuple[Resource, ...] = (
    Resource(
        name="componentstatuses",
        singular="componentstatus",
        kind="ComponentStatus",
        group="",
        version="v1",
        namespaced=False,
        short_names=("cs",),
        verbs=("get", "list"),
    ),
)
DISCOVERED: tuple[Resource, ...] = RESOURCES + COMPUTED + REVIEWS

BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}
