"""Validation of object metadata and label selectors (ValidateObjectMeta,
ValidateLabels, ValidateAnnotations, ValidateLabelSelector). Pure; never raises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodeagent.api import names
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import FieldError
from nodeagent.api.fielderrors import Errors, sorted_errors

NameCheck = Callable[[str], list[str]]
ANNOTATIONS_MAX_BYTES = 256 * 1024


def _mask_trailing_dash(name: str) -> str:
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def validate_labels(errs: Errors, labels: Any, path: str) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        errs.wrong_type(path, labels, dict)
        return
    for key, value in labels.items():
        for msg in names.qualified_name(key):
            errs.invalid(path, key, msg)
        if not isinstance(value, str):
            errs.wrong_type(f"{path}[{key}]", value, str)
            continue
        for msg in names.label_value(value):
            errs.invalid(path, value, msg)


def validate_annotations(errs: Errors, annotations: Any, path: str) -> None:
    if annotations is None:
        return
    if not isinstance(annotations, dict):
        errs.wrong_type(path, annotations, dict)
        return
    total = 0
    for key, value in annotations.items():
        for msg in names.qualified_name(key.lower()):
            errs.invalid(path, key, msg)
        if not isinstance(value, str):
            errs.wrong_type(f"{path}[{key}]", value, str)
            continue
        total += len(key.encode()) + len(value.encode())
    if total > ANNOTATIONS_MAX_BYTES:
        errs.items.append(
            FieldError(
                field=path,
                type="Too long",
                detail=f"may not be more than {ANNOTATIONS_MAX_BYTES} bytes",
                reason="FieldValueTooLong",
            )
        )


def object_meta_into(
    obj: Obj, errs: Errors, *, namespaced: bool, name_check: NameCheck = names.dns1123_subdomain
) -> None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        if meta is None:
            errs.required("metadata.name", "name or generateName is required")
        else:
            errs.wrong_type("metadata", meta, dict)
        return
    name = errs.get_str(meta, "name", "metadata.name")
    generate = errs.get_str(meta, "generateName", "metadata.generateName")
    if generate:
        for msg in name_check(_mask_trailing_dash(generate)):
            errs.invalid("metadata.generateName", generate, msg)
    if not name and not generate:
        errs.required("metadata.name", "name or generateName is required")
    elif name:
        for msg in name_check(name):
            errs.invalid("metadata.name", name, msg)
    namespace = errs.get_str(meta, "namespace", "metadata.namespace")
    if namespaced:
        if not namespace:
            errs.required("metadata.namespace")
        else:
            for msg in names.dns1123_label(namespace):
                errs.invalid("metadata.namespace", namespace, msg)
    elif namespace:
        errs.forbidden("metadata.namespace", "not allowed on this type")
    validate_labels(errs, meta.get("labels"), "metadata.labels")
    validate_annotations(errs, meta.get("annotations"), "metadata.annotations")
    for rpath, ref in errs.get_maps(meta, "ownerReferences", "metadata.ownerReferences"):
        for field in ("apiVersion", "kind", "name", "uid"):
            if not errs.get_str(ref, field, f"{rpath}.{field}"):
                errs.required(f"{rpath}.{field}" if field != "uid" else f"{rpath}.uid")


def validate_object_meta(
    obj: Obj, *, namespaced: bool = True, name_check: NameCheck = names.dns1123_subdomain
) -> list[FieldError]:
    """metadata: name (or generateName), namespace, labels, annotations, ownerReferences."""
    errs = Errors()
    object_meta_into(obj, errs, namespaced=namespaced, name_check=name_check)
    return sorted_errors(errs.items)


def validate_label_selector(selector: Obj, path: str, errs: Errors) -> None:
    """ValidateLabelSelector: matchLabels syntax, expression operators and value counts."""
    validate_labels(errs, selector.get("matchLabels"), f"{path}.matchLabels")
    for epath, expr in errs.get_maps(selector, "matchExpressions", f"{path}.matchExpressions"):
        key = errs.get_str(expr, "key", f"{epath}.key")
        for msg in names.qualified_name(key):
            errs.invalid(f"{epath}.key", key, msg)
        values = errs.get_strings(expr, "values", f"{epath}.values")
        operator = errs.get_str(expr, "operator", f"{epath}.operator")
        if operator in ("In", "NotIn"):
            if not values:
                errs.required(
                    f"{epath}.values", "must be specified when `operator` is 'In' or 'NotIn'"
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errs.forbidden(
                    f"{epath}.values",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
        else:
            errs.invalid(f"{epath}.operator", operator, "not a valid selector operator")
        for i, value in enumerate(values):
            for msg in names.label_value(value):
                errs.invalid(f"{epath}.values[{i}]", value, msg)
