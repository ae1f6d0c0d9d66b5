"""Validation of whole objects as the API server does it: metadata, Pod, DaemonSet (and its
update), Node, ControllerRevision, Lease, Event, Namespace. Pure.

Every function returns all errors at once, ordered by field path, and never raises: a field
of the wrong type is itself reported (where Kubernetes would fail to decode the body).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodeagent.api import names
from nodeagent.api.errors import FieldError
from nodeagent.api.fielderrors import (
    Errors,
    Obj,
    shown_label_selector,
    shown_string_map,
    sorted_errors,
)
from nodeagent.api.podvalidation import validate_pod_spec as _pod_spec_into
from nodeagent.api.podvalidation import validate_taints
from nodeagent.api.quantity import int_or_percent_value
from nodeagent.api.resources import BY_KIND
from nodeagent.api.selectors import LabelSelector

__all__ = [
    "validate_controller_revision",
    "validate_daemonset",
    "validate_daemonset_update",
    "validate_event",
    "validate_lease",
    "validate_namespace",
    "validate_node",
    "validate_object",
    "validate_object_meta",
    "validate_pod",
    "validate_pod_spec",
    "validate_pod_update",
    "validate_update",
]

NameCheck = Callable[[str], list[str]]
STRATEGY_TYPES = ("RollingUpdate", "OnDelete")
ANNOTATIONS_MAX_BYTES = 256 * 1024


def validate_pod_spec(spec: Obj, path: str) -> list[FieldError]:
    """Every error in a PodSpec at path ("spec", "spec.template.spec")."""
    return sorted_errors(_pod_spec_into(spec, path).items)


def _mask_trailing_dash(name: str) -> str:
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def _labels(errs: Errors, labels: Any, path: str) -> None:
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


def _annotations(errs: Errors, annotations: Any, path: str) -> None:
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


def _object_meta(
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
    _labels(errs, meta.get("labels"), "metadata.labels")
    _annotations(errs, meta.get("annotations"), "metadata.annotations")
    for rpath, ref in errs.get_maps(meta, "ownerReferences", "metadata.ownerReferences"):
        for field in ("apiVersion", "kind", "name", "uid"):
            if not errs.get_str(ref, field, f"{rpath}.{field}"):
                errs.required(f"{rpath}.{field}" if field != "uid" else f"{rpath}.uid")


def validate_object_meta(
    obj: Obj, *, namespaced: bool = True, name_check: NameCheck = names.dns1123_subdomain
) -> list[FieldError]:
    """metadata: name (or generateName), namespace, labels, annotations, ownerReferences."""
    errs = Errors()
    _object_meta(obj, errs, namespaced=namespaced, name_check=name_check)
    return sorted_errors(errs.items)


def validate_pod(pod: Obj) -> list[FieldError]:
    errs = Errors()
    _object_meta(pod, errs, namespaced=True)
    _pod_spec_into(pod.get("spec"), "spec", errs)
    return sorted_errors(errs.items)


def _template(template: Any, path: str, errs: Errors) -> Obj:
    if not isinstance(template, dict):
        if template is None:
            errs.required(path)
        else:
            errs.wrong_type(path, template, dict)
        return {}
    meta = errs.get_map(template, "metadata", f"{path}.metadata")
    _labels(errs, meta.get("labels"), f"{path}.metadata.labels")
    _annotations(errs, meta.get("annotations"), f"{path}.metadata.annotations")
    _pod_spec_into(template.get("spec"), f"{path}.spec", errs)
    return template


def _label_selector(selector: Obj, path: str, errs: Errors) -> None:
    """ValidateLabelSelector: matchLabels syntax, expression operators and value counts."""
    _labels(errs, selector.get("matchLabels"), f"{path}.matchLabels")
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


def _int_or_percent(ru: Obj, key: str, path: str, errs: Errors) -> int:
    """ValidatePositiveIntOrPercent + IsNotMoreThan100Percent; the number (0 if invalid)."""
    value = ru.get(key)
    if value is None:
        return 0
    if isinstance(value, str):
        for msg in names.percent(value):
            errs.invalid(path, value, msg)
            return 0
    elif isinstance(value, bool) or not isinstance(value, int):
        errs.invalid(
            path,
            value if not isinstance(value, dict | list) else str(value),
            "must be an integer or percentage",
        )
        return 0
    number, is_percent = int_or_percent_value(value)
    if not is_percent:
        errs.nonnegative(path, number)
    elif number > 100:
        errs.invalid(path, value, "must not be greater than 100%")
    return number


def _update_strategy(spec: Obj, errs: Errors) -> None:
    path = "spec.updateStrategy"
    strategy = errs.get_map(spec, "updateStrategy", path)
    kind = errs.get_str(strategy, "type", f"{path}.type")
    if kind == "OnDelete":
        return
    if kind != "RollingUpdate":
        errs.not_supported(f"{path}.type", kind, STRATEGY_TYPES)
        return
    if strategy.get("rollingUpdate") is None:
        errs.required(f"{path}.rollingUpdate")
        return
    ru = errs.get_map(strategy, "rollingUpdate", f"{path}.rollingUpdate")
    unavailable = _int_or_percent(
        ru, "maxUnavailable", f"{path}.rollingUpdate.maxUnavailable", errs
    )
    surge = _int_or_percent(ru, "maxSurge", f"{path}.rollingUpdate.maxSurge", errs)
    if unavailable and surge:
        errs.invalid(
            f"{path}.rollingUpdate.maxSurge",
            ru.get("maxSurge"),
            "may not be set when maxUnavailable is non-zero",
        )
    elif not unavailable and not surge:
        errs.required(f"{path}.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0")


def _as_map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _daemonset_spec(ds: Obj, errs: Errors) -> None:
    spec = ds.get("spec")
    if not isinstance(spec, dict):
        if spec is None:
            errs.required("spec")
        else:
            errs.wrong_type("spec", spec, dict)
        return
    raw_selector = spec.get("selector")
    selector = errs.get_map(spec, "selector", "spec.selector")
    if raw_selector is not None:  # a missing one matches nothing: reported as a mismatch
        _label_selector(selector, "spec.selector", errs)
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            errs.invalid(
                "spec.selector",
                shown_label_selector(selector),
                "empty selector is invalid for daemonset",
            )
    template = _template(spec.get("template"), "spec.template", errs)
    template_meta = _as_map(template.get("metadata"))
    template_labels = template_meta.get("labels")
    try:
        parsed = LabelSelector.from_dict(selector if raw_selector is not None else None)
        labels = template_labels if isinstance(template_labels, dict) else {}
        matches = parsed.matches({k: v for k, v in labels.items() if isinstance(v, str)})
    except ValueError:
        matches = True  # the selector's own errors are reported above
    if template and not matches:
        errs.invalid(
            "spec.template.metadata.labels",
            shown_string_map(template_labels),
            "`selector` does not match template `labels`",
        )
    template_spec = _as_map(template.get("spec"))
    restart = template_spec.get("restartPolicy")
    if template and isinstance(restart, str) and restart not in ("Always", ""):
        errs.not_supported("spec.template.spec.restartPolicy", restart, ("Always",))
    if template_spec.get("activeDeadlineSeconds") is not None:
        errs.forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in DaemonSet is not Supported",
        )
    for field in ("minReadySeconds", "revisionHistoryLimit", "templateGeneration"):
        errs.nonnegative(f"spec.{field}", errs.get_int(spec, field, f"spec.{field}"))
    _update_strategy(spec, errs)


def validate_daemonset(ds: Obj) -> list[FieldError]:
    """A defaulted DaemonSet: metadata, selector (matching the template's labels), the pod
    template with restartPolicy Always, the update strategy."""
    errs = Errors()
    _object_meta(ds, errs, namespaced=True)
    _daemonset_spec(ds, errs)
    return sorted_errors(errs.items)


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


UPDATE_VALIDATORS: dict[str, Callable[[Obj, Obj], list[FieldError]]] = {
    "DaemonSet": validate_daemonset_update,
    "Pod": validate_pod_update,
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


def validate_node(node: Obj) -> list[FieldError]:
    errs = Errors()
    _object_meta(node, errs, namespaced=False)
    spec = errs.get_map(node, "spec", "spec")
    if spec.get("taints") is not None:
        validate_taints(spec.get("taints"), "spec.taints", errs)
    errs.get_bool(spec, "unschedulable", "spec.unschedulable")
    return sorted_errors(errs.items)


def validate_namespace(ns: Obj) -> list[FieldError]:
    errs = Errors()
    _object_meta(ns, errs, namespaced=False, name_check=names.dns1123_label)
    return sorted_errors(errs.items)


def validate_controller_revision(revision: Obj) -> list[FieldError]:
    errs = Errors()
    _object_meta(revision, errs, namespaced=True)
    if revision.get("data") is None:
        errs.required("data", "data is mandatory")
    number = errs.get_int(revision, "revision", "revision")
    errs.nonnegative("revision", number)
    return sorted_errors(errs.items)


def validate_lease(lease: Obj) -> list[FieldError]:
    errs = Errors()
    _object_meta(lease, errs, namespaced=True)
    spec = errs.get_map(lease, "spec", "spec")
    duration = errs.get_int(spec, "leaseDurationSeconds", "spec.leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")
    transitions = errs.get_int(spec, "leaseTransitions", "spec.leaseTransitions")
    errs.nonnegative("spec.leaseTransitions", transitions)
    errs.get_str(spec, "holderIdentity", "spec.holderIdentity")
    return sorted_errors(errs.items)


def validate_event(event: Obj) -> list[FieldError]:
    errs = Errors()
    _object_meta(event, errs, namespaced=True)
    involved = errs.get_map(event, "involvedObject", "involvedObject")
    namespace = (
        event.get("metadata", {}).get("namespace")
        if isinstance(event.get("metadata"), dict)
        else None
    )
    involved_ns = errs.get_str(involved, "namespace", "involvedObject.namespace")
    if involved_ns and namespace and involved_ns != namespace:
        errs.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    for field in ("reason", "message", "type"):
        errs.get_str(event, field, field)
    errs.nonnegative("count", errs.get_int(event, "count", "count"))
    return sorted_errors(errs.items)


VALIDATORS: dict[str, Callable[[Obj], list[FieldError]]] = {
    "Pod": validate_pod,
    "DaemonSet": validate_daemonset,
    "Node": validate_node,
    "Namespace": validate_namespace,
    "ControllerRevision": validate_controller_revision,
    "Lease": validate_lease,
    "Event": validate_event,
}


def validate_object(obj: Obj) -> list[FieldError]:
    """Validate any object by its kind; an unknown kind or a wrong apiVersion is an error."""
    if not isinstance(obj, dict):
        return [
            FieldError(
                field="<root>",
                type="Invalid value",
                value=str(type(obj)),
                detail="must be an object",
            )
        ]
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        return [FieldError(field="kind", type="Required value", reason="FieldValueRequired")]
    validator = VALIDATORS.get(kind)
    if validator is None:
        return [
            FieldError(
                field="kind",
                type="Unsupported value",
                value=kind,
                detail="supported values: " + ", ".join(f'"{k}"' for k in VALIDATORS),
                reason="FieldValueNotSupported",
            )
        ]
    errors = validator(obj)
    api_version = obj.get("apiVersion")
    expected = BY_KIND[kind].api_version
    if api_version is not None and api_version != expected:
        errors.insert(
            0,
            FieldError(
                field="apiVersion",
                type="Unsupported value",
                value=api_version if isinstance(api_version, str) else str(api_version),
                detail=f'supported values: "{expected}"',
                reason="FieldValueNotSupported",
            ),
        )
    return errors
