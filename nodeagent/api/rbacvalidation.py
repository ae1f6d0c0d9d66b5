"""Validation of Role, ClusterRole, RoleBinding and ClusterRoleBinding as kube-apiserver does it
(pkg/apis/rbac/validation): rules, aggregation selectors, roleRef and subjects, with its field
paths and words; a binding's roleRef cannot change. Pure."""

from __future__ import annotations

from collections.abc import Callable

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import FieldError, GoValue
from nodeagent.api.fielderrors import Errors, sorted_errors
from nodeagent.api.metavalidation import object_meta_into, validate_label_selector
from nodeagent.api.resources import RBAC_GROUP

SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def path_segment_name(name: str) -> list[str]:
    """path.IsValidPathSegmentName: RBAC names may hold ':' (system:node) but no '/' or '%'."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _go_strings(values: list[str]) -> GoValue:
    return GoValue("[]string{" + ", ".join(f'"{v}"' for v in values) + "}")


def _rules_into(obj: Obj, errs: Errors, *, namespaced: bool) -> None:
    """ValidatePolicyRule for each rule."""
    for path, rule in errs.get_maps(obj, "rules", "rules"):
        if not errs.get_strings(rule, "verbs", f"{path}.verbs"):
            errs.required(f"{path}.verbs", "verbs must contain at least one value")
        urls = errs.get_strings(rule, "nonResourceURLs", f"{path}.nonResourceURLs")
        groups = errs.get_strings(rule, "apiGroups", f"{path}.apiGroups")
        resources = errs.get_strings(rule, "resources", f"{path}.resources")
        names = errs.get_strings(rule, "resourceNames", f"{path}.resourceNames")
        if urls:
            if namespaced:
                errs.invalid(
                    f"{path}.nonResourceURLs",
                    _go_strings(urls),
                    "namespaced rules cannot apply to non-resource URLs",
                )
            if groups or resources or names:
                errs.invalid(
                    f"{path}.nonResourceURLs",
                    _go_strings(urls),
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            continue
        if not groups:
            errs.required(f"{path}.apiGroups", "resource rules must supply at least one api group")
        if not resources:
            errs.required(f"{path}.resources", "resource rules must supply at least one resource")


def validate_role(role: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(role, errs, namespaced=True, name_check=path_segment_name)
    _rules_into(role, errs, namespaced=True)
    return sorted_errors(errs.items)


def validate_cluster_role(role: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(role, errs, namespaced=False, name_check=path_segment_name)
    _rules_into(role, errs, namespaced=False)
    if role.get("aggregationRule") is not None:
        aggregation = errs.get_map(role, "aggregationRule", "aggregationRule")
        selectors = errs.get_maps(
            aggregation, "clusterRoleSelectors", "aggregationRule.clusterRoleSelectors"
        )
        if not selectors:
            errs.required(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            )
        for path, selector in selectors:
            validate_label_selector(selector, path, errs)
    return sorted_errors(errs.items)


def _role_ref_into(binding: Obj, errs: Errors, *, kinds: tuple[str, ...]) -> None:
    ref = errs.get_map(binding, "roleRef", "roleRef")
    group = errs.get_str(ref, "apiGroup", "roleRef.apiGroup")
    if group != RBAC_GROUP:
        errs.not_supported("roleRef.apiGroup", group, [RBAC_GROUP])
    kind = errs.get_str(ref, "kind", "roleRef.kind")
    if kind not in kinds:
        errs.not_supported("roleRef.kind", kind, kinds)
    name = errs.get_str(ref, "name", "roleRef.name")
    if not name:
        errs.required("roleRef.name")
    for msg in path_segment_name(name) if name else []:
        errs.invalid("roleRef.name", name, msg)


def _subjects_into(binding: Obj, errs: Errors, *, namespaced: bool) -> None:
    """ValidateRoleBindingSubject for each subject."""
    for path, subject in errs.get_maps(binding, "subjects", "subjects"):
        name = errs.get_str(subject, "name", f"{path}.name")
        if not name:
            errs.required(f"{path}.name")
        group = errs.get_str(subject, "apiGroup", f"{path}.apiGroup")
        kind = errs.get_str(subject, "kind", f"{path}.kind")
        if kind == "ServiceAccount":
            for msg in path_segment_name(name) if name else []:
                errs.invalid(f"{path}.name", name, msg)
            if group:
                errs.not_supported(f"{path}.apiGroup", group, [""])
            if not namespaced and not errs.get_str(subject, "namespace", f"{path}.namespace"):
                errs.required(f"{path}.namespace")
        elif kind in ("User", "Group"):
            if group != RBAC_GROUP:
                errs.not_supported(f"{path}.apiGroup", group, [RBAC_GROUP])
        else:
            errs.not_supported(f"{path}.kind", kind, SUBJECT_KINDS)


def validate_role_binding(binding: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(binding, errs, namespaced=True, name_check=path_segment_name)
    _role_ref_into(binding, errs, kinds=("Role", "ClusterRole"))
    _subjects_into(binding, errs, namespaced=True)
    return sorted_errors(errs.items)


def validate_cluster_role_binding(binding: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(binding, errs, namespaced=False, name_check=path_segment_name)
    _role_ref_into(binding, errs, kinds=("ClusterRole",))
    _subjects_into(binding, errs, namespaced=False)
    return sorted_errors(errs.items)


def _go_role_ref(ref: Obj) -> GoValue:
    """The roleRef as kube-apiserver prints an internal struct (%#v)."""
    parts = ", ".join(
        f'{go}:"{ref.get(key) or ""}"'
        for go, key in (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name"))
    )
    return GoValue(f"rbac.RoleRef{{{parts}}}")


def validate_binding_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidateRoleBindingUpdate: the roleRef is immutable (delete and recreate to change it)."""
    ref, old_ref = new.get("roleRef") or {}, old.get("roleRef") or {}
    if ref == old_ref:
        return []
    return [
        FieldError(
            field="roleRef",
            type="Invalid value",
            value=_go_role_ref(ref),
            detail="cannot change roleRef",
        )
    ]


RBAC_VALIDATORS: dict[str, Callable[[Obj], list[FieldError]]] = {
    "Role": validate_role,
    "ClusterRole": validate_cluster_role,
    "RoleBinding": validate_role_binding,
    "ClusterRoleBinding": validate_cluster_role_binding,
}
RBAC_UPDATE_VALIDATORS: dict[str, Callable[[Obj, Obj], list[FieldError]]] = {
    "RoleBinding": validate_binding_update,
    "ClusterRoleBinding": validate_binding_update,
}


def default_binding(binding: Obj) -> Obj:
    """SetDefaults_RoleBinding / _ClusterRoleBinding / _Subject: roleRef.apiGroup, and a User's
    or Group's apiGroup, default to rbac.authorization.k8s.io (a copy)."""
    out = dict(binding)
    ref = out.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        out["roleRef"] = {**ref, "apiGroup": RBAC_GROUP}
    subjects = out.get("subjects")
    if isinstance(subjects, list):
        out["subjects"] = [
            {**s, "apiGroup": RBAC_GROUP}
            if isinstance(s, dict) and s.get("kind") in ("User", "Group") and not s.get("apiGroup")
            else s
            for s in subjects
        ]
    return out
