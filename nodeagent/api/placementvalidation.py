"""Validation of where a pod may run: tolerations, node taints and required node affinity
(validateTolerations, validateNodeTaints, ValidateNodeSelector). Pure; never raises."""

from __future__ import annotations

from typing import Any

from nodeagent.api import names
from nodeagent.api.bodies import Obj
from nodeagent.api.fielderrors import Errors, shown_struct

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_OPERATORS = ("Equal", "Exists")
TOLERATION_FIELDS = ("key", "operator", "value", "effect", "tolerationSeconds")


def validate_tolerations(tolerations: Any, path: str, errs: Errors) -> None:
    items = errs.get_maps({"t": tolerations}, "t", path)
    for tpath, tol in items:
        key = errs.get_str(tol, "key", f"{tpath}.key")
        operator = errs.get_str(tol, "operator", f"{tpath}.operator")
        value = errs.get_str(tol, "value", f"{tpath}.value")
        effect = errs.get_str(tol, "effect", f"{tpath}.effect")
        seconds = errs.get_int(tol, "tolerationSeconds", f"{tpath}.tolerationSeconds")
        for msg in names.qualified_name(key) if key else []:
            errs.invalid(f"{tpath}.key", key, msg)
        if not key and operator != "Exists":
            errs.invalid(
                f"{tpath}.operator",
                operator,
                'operator must be Exists when `key` is empty, which means "match all values '
                'and all keys"',
            )
        if seconds is not None and effect != "NoExecute":
            errs.invalid(
                f"{tpath}.effect",
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            )
        if operator in ("", "Equal"):
            value_errs = names.label_value(value)
            if value_errs:
                errs.invalid(f"{tpath}.operator", value, ";".join(value_errs))
        elif operator == "Exists":
            if value:
                errs.invalid(
                    f"{tpath}.operator",
                    shown_struct(tol, TOLERATION_FIELDS),
                    "value must be empty when `operator` is 'Exists'",
                )
        else:
            errs.not_supported(f"{tpath}.operator", operator, TOLERATION_OPERATORS)
        if effect and effect not in TAINT_EFFECTS:
            errs.not_supported(f"{tpath}.effect", effect, TAINT_EFFECTS)


def validate_taints(taints: Any, path: str, errs: Errors) -> None:
    """Node taints: key, value syntax, a required effect, unique by key and effect."""
    seen: set[tuple[str, str]] = set()
    for tpath, taint in errs.get_maps({"t": taints}, "t", path):
        key = errs.get_str(taint, "key", f"{tpath}.key")
        if not key:
            errs.required(f"{tpath}.key")
        for msg in names.qualified_name(key) if key else []:
            errs.invalid(f"{tpath}.key", key, msg)
        value = errs.get_str(taint, "value", f"{tpath}.value")
        for msg in names.label_value(value):
            errs.invalid(f"{tpath}.value", value, msg)
        effect = errs.get_str(taint, "effect", f"{tpath}.effect")
        if not effect:
            errs.required(f"{tpath}.effect")
        elif effect not in TAINT_EFFECTS:
            errs.not_supported(f"{tpath}.effect", effect, TAINT_EFFECTS)
        if (key, effect) in seen:
            errs.duplicate(tpath, f"{key}:{effect}")
        seen.add((key, effect))


def validate_node_selector(selector: Obj, path: str, errs: Errors) -> None:
    terms = errs.get_maps(selector, "nodeSelectorTerms", f"{path}.nodeSelectorTerms")
    if not terms:
        errs.required(f"{path}.nodeSelectorTerms", "must have at least one node selector term")
    for tpath, term in terms:
        for epath, expr in errs.get_maps(term, "matchExpressions", f"{tpath}.matchExpressions"):
            _node_selector_requirement(expr, epath, errs)
        for fpath, expr in errs.get_maps(term, "matchFields", f"{tpath}.matchFields"):
            _node_field_requirement(expr, fpath, errs)


def _node_selector_requirement(expr: Obj, path: str, errs: Errors) -> None:
    key = errs.get_str(expr, "key", f"{path}.key")
    for msg in names.qualified_name(key):
        errs.invalid(f"{path}.key", key, msg)
    values = errs.get_strings(expr, "values", f"{path}.values")
    operator = errs.get_str(expr, "operator", f"{path}.operator")
    if operator in ("In", "NotIn"):
        if not values:
            errs.required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.forbidden(
                f"{path}.values",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            errs.required(
                f"{path}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'"
            )
    else:
        errs.invalid(f"{path}.operator", operator, "not a valid selector operator")


def _node_field_requirement(expr: Obj, path: str, errs: Errors) -> None:
    """ValidateNodeFieldSelectorRequirement: only metadata.name, In/NotIn one node name."""
    key = errs.get_str(expr, "key", f"{path}.key")
    values = errs.get_strings(expr, "values", f"{path}.values")
    operator = errs.get_str(expr, "operator", f"{path}.operator")
    if operator in ("In", "NotIn"):
        if len(values) != 1:
            errs.required(
                f"{path}.values",
                "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
            )
    else:
        errs.invalid(f"{path}.operator", operator, "not a valid selector operator")
    if key != "metadata.name":
        errs.invalid(f"{path}.key", key, "not a valid field selector key")
        return
    for i, value in enumerate(values):
        for msg in names.dns1123_subdomain(value):
            errs.invalid(f"{path}.values[{i}]", value, msg)
