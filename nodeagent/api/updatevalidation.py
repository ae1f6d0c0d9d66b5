"""The validation rules that compare an update with the stored object: a DaemonSet's
selector is immutable, a Pod's spec may change only in a few fields, a Node's podCIDRs and
providerID only from unset. Pure.

These lists hold only the update rules; add them to validate_object(new), which checks the
rest, and the two never repeat an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.configvalidation import validate_configmap_update, validate_secret_update
from nodeagent.api.errors import FieldError
from nodeagent.api.fielderrors import shown_label_selector, sorted_errors
from nodeagent.api.rbacvalidation import RBAC_UPDATE_VALIDATORS


def _as_map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def validate_daemonset_update(new: Obj, old: Obj) -> list[FieldError]:
    """The rules that compare an updated DaemonSet with the stored one: spec.selector may
    not change. (validate_object(new) checks the rest; the two lists add up to
    ValidateDaemonSetUpdate without duplicates.)"""
    errors: list[FieldError] = []
    new_sel = _as_map(new.get("spec")).get("selector")
    old_sel = _as_map(old.get("spec")).get("selector")
    if _normal_selector(new_sel) != _normal_selector(old_sel):
        errors.append(
            FieldError(
                field="spec.selector",
                type="Invalid value",
                value=shown_label_selector(new_sel),
                detail="field is immutable",
            )
        )
    return errors


POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _masked_pod_spec(new_spec: Obj, old_spec: Obj) -> Obj:
    """new_spec with every change a pod update may make put back to old_spec's value."""
    masked = dict(new_spec)
    for list_name in ("containers", "initContainers"):
        new_list, old_list = masked.get(list_name), old_spec.get(list_name)
        if isinstance(new_list, list) and isinstance(old_list, list):
            if len(new_list) != len(old_list):
                continue
            masked[list_name] = [
                {**n, "image": o.get("image")}
                if isinstance(n, dict) and isinstance(o, dict) and "image" in o
                else n
                for n, o in zip(new_list, old_list, strict=True)
            ]
    masked.pop("activeDeadlineSeconds", None)
    if "activeDeadlineSeconds" in old_spec:
        masked["activeDeadlineSeconds"] = old_spec["activeDeadlineSeconds"]
    old_tolerations = old_spec.get("tolerations") or []
    new_tolerations = masked.get("tolerations") or []
    only_added = isinstance(new_tolerations, list) and isinstance(old_tolerations, list)
    if only_added and all(t in new_tolerations for t in old_tolerations):
        masked.pop("tolerations", None)
        if "tolerations" in old_spec:
            masked["tolerations"] = old_spec["tolerations"]
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    negative_before = isinstance(old_grace, int) and old_grace < 0
    if negative_before and masked.get("terminationGracePeriodSeconds") == 1:
        masked["terminationGracePeriodSeconds"] = old_grace
    return masked


def validate_pod_update(new: Obj, old: Obj) -> list[FieldError]:
    """The rules that compare an updated Pod with the stored one (ValidatePodUpdate): the
    spec may change only in container images, activeDeadlineSeconds, added tolerations and
    a negative terminationGracePeriodSeconds set to 1."""
    old_spec = _as_map(old.get("spec"))
    if _masked_pod_spec(_as_map(new.get("spec")), old_spec) == old_spec:
        return []
    return [
        FieldError(
            field="spec",
            type="Forbidden",
            detail=POD_UPDATE_FORBIDDEN,
            reason="FieldValueForbidden",
        )
    ]


def _pod_cidrs(spec: Obj) -> list[str]:
    """podCIDRs, or the older single podCIDR (the two are one field inside Kubernetes)."""
    cidrs = spec.get("podCIDRs")
    if isinstance(cidrs, list) and cidrs:
        return [str(c) for c in cidrs]
    return [str(spec["podCIDR"])] if spec.get("podCIDR") else []


def validate_node_update(new: Obj, old: Obj) -> list[FieldError]:
    """The rules that compare an updated Node with the stored one (ValidateNodeUpdate): once
    set, podCIDRs and providerID stay, for every caller (a node's other limits are
    NodeRestriction's, in the server)."""
    new_spec, old_spec = _as_map(new.get("spec")), _as_map(old.get("spec"))
    new_cidrs, old_cidrs = _pod_cidrs(new_spec), _pod_cidrs(old_spec)
    errors: list[FieldError] = []
    cidr_error = FieldError(
        field="spec.podCIDRs",
        type="Forbidden",
        detail='node updates may not change podCIDR except from "" to valid',
        reason="FieldValueForbidden",
    )
    if old_cidrs and len(new_cidrs) != len(old_cidrs):
        errors.append(cidr_error)
    elif old_cidrs:  # one error per changed range, as Kubernetes counts them
        errors += [cidr_error for n, o in zip(new_cidrs, old_cidrs, strict=True) if n != o]
    old_id = old_spec.get("providerID")
    if old_id and new_spec.get("providerID") != old_id:
        errors.append(
            FieldError(
                field="spec.providerID",
                type="Forbidden",
                detail='node updates may not change providerID except from "" to valid',
                reason="FieldValueForbidden",
            )
        )
    return errors


UPDATE_VALIDATORS: dict[str, Callable[[Obj, Obj], list[FieldError]]] = {
    "DaemonSet": validate_daemonset_update,
    "Pod": validate_pod_update,
    "Node": validate_node_update,
    "ConfigMap": validate_configmap_update,
    "Secret": validate_secret_update,
    **RBAC_UPDATE_VALIDATORS,
}


def validate_update(new: Obj, old: Obj) -> list[FieldError]:
    """The update-only rules for new's kind (none for kinds without any); add these to
    validate_object(new)."""
    kind = new.get("kind")
    validator = UPDATE_VALIDATORS.get(kind) if isinstance(kind, str) else None
    return sorted_errors(validator(new, old)) if validator else []


def _normal_selector(selector: Any) -> Any:
    """Selectors compare equal when only empty fields differ (Go's semantic equality)."""
    if not isinstance(selector, dict):
        return selector
    return {k: v for k, v in selector.items() if v not in (None, {}, [])}
