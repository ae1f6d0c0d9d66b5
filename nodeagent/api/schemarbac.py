"""The fields of Role, ClusterRole, RoleBinding and ClusterRoleBinding
(rbac.authorization.k8s.io/v1) as data, for strict field validation and the OpenAPI
documents. Pure."""

from __future__ import annotations

from nodeagent.api.schemabase import TYPE_META, F, Type

RBAC = "io.k8s.api.rbac.v1"
GROUP = "rbac.authorization.k8s.io"

RBAC_TYPES: dict[str, Type] = {
    "PolicyRule": Type(
        package=RBAC,
        description="PolicyRule holds information that describes a policy rule.",
        fields={
            "verbs": F(
                "[]string", "Verbs that apply to all the resources; '*' is all.", required=True
            ),
            "apiGroups": F("[]string", "The API groups of the resources; '' is the core group."),
            "resources": F("[]string", "Resources this rule applies to; '*' is all."),
            "resourceNames": F("[]string", "An optional allow list of names."),
            "nonResourceURLs": F("[]string", "Partial URLs a user may access; '*' ends a prefix."),
        },
    ),
    "AggregationRule": Type(
        package=RBAC,
        description="Describes how to locate ClusterRoles to aggregate into the ClusterRole.",
        fields={
            "clusterRoleSelectors": F(
                "[]LabelSelector", "ClusterRoles whose rules are added to this one."
            ),
        },
    ),
    "Role": Type(
        package=RBAC,
        description="A namespaced, logical grouping of PolicyRules.",
        gvk=(GROUP, "v1", "Role"),
        fields={**TYPE_META, "rules": F("[]PolicyRule", "All the PolicyRules for this Role.")},
    ),
    "ClusterRole": Type(
        package=RBAC,
        description="A cluster level, logical grouping of PolicyRules.",
        gvk=(GROUP, "v1", "ClusterRole"),
        fields={
            **TYPE_META,
            "rules": F("[]PolicyRule", "All the PolicyRules for this ClusterRole."),
            "aggregationRule": F(
                "AggregationRule", "How to build the rules (controller-managed when set)."
            ),
        },
    ),
    "RoleRef": Type(
        package=RBAC,
        description="The role being referenced.",
        fields={
            "apiGroup": F("string", "The group of the referenced role.", required=True),
            "kind": F("string", "Role or ClusterRole.", required=True),
            "name": F("string", "The name of the referenced role.", required=True),
        },
    ),
    "Subject": Type(
        package=RBAC,
        description="A reference to a user, group or ServiceAccount.",
        fields={
            "kind": F("string", "User, Group or ServiceAccount.", required=True),
            "apiGroup": F("string", "'' for ServiceAccount, rbac.authorization.k8s.io else."),
            "name": F("string", "The name of the object being referenced.", required=True),
            "namespace": F("string", "The namespace of a ServiceAccount."),
        },
    ),
    "RoleBinding": Type(
        package=RBAC,
        description="Grants the permissions of a role to subjects in one namespace.",
        gvk=(GROUP, "v1", "RoleBinding"),
        fields={
            **TYPE_META,
            "subjects": F("[]Subject", "The objects the role applies to."),
            "roleRef": F("RoleRef", "A Role or ClusterRole; immutable.", required=True),
        },
    ),
    "ClusterRoleBinding": Type(
        package=RBAC,
        description="Grants the permissions of a ClusterRole to subjects cluster-wide.",
        gvk=(GROUP, "v1", "ClusterRoleBinding"),
        fields={
            **TYPE_META,
            "subjects": F("[]Subject", "The objects the role applies to."),
            "roleRef": F("RoleRef", "A ClusterRole; immutable.", required=True),
        },
    ),
}
