"""Validation of whole objects as the API server does it: metadata, Pod, DaemonSet (and its
update), Node, ControllerRevision, Lease, Event, Namespace; ConfigMap and Secret are
configvalidation.py's, ServiceAccount serviceaccounts.py's. Pure.

Every function returns all errors at once, ordered by field path, and never raises: a field
of the wrong type is itself reported (where Kubernetes would fail to decode the body).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodeagent.api import names
from nodeagent.api.bodies import Obj
from nodeagent.api.configvalidation import validate_configmap, validate_secret
from nodeagent.api.errors import FieldError
from nodeagent.api.fielderrors import Errors, shown_label_selector, shown_string_map, sorted_errors
from nodeagent.api.metavalidation import (
    object_meta_into,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
)
from nodeagent.api.placementvalidation import validate_taints
from nodeagent.api.podvalidation import validate_pod_spec as _pod_spec_into
from nodeagent.api.quantity import int_or_percent_value
from nodeagent.api.rbacvalidation import RBAC_VALIDATORS
from nodeagent.api.resources import BY_KIND
from nodeagent.api.rolloutpolicy import validate_rollout_annotations
from nodeagent.api.selectors import LabelSelector
from nodeagent.api.serviceaccounts import validate_service_account
from nodeagent.api.updatevalidation import (
    validate_daemonset_update,
    validate_pod_update,
    validate_update,
)

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

STRATEGY_TYPES = ("RollingUpdate", "OnDelete")


def validate_pod_spec(spec: Obj, path: str) -> list[FieldError]:
    """Every error in a PodSpec at path ("spec", "spec.template.spec")."""
    return sorted_errors(_pod_spec_into(spec, path).items)


def validate_pod(pod: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(pod, errs, namespaced=True)
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
    validate_labels(errs, meta.get("labels"), f"{path}.metadata.labels")
    validate_annotations(errs, meta.get("annotations"), f"{path}.metadata.annotations")
    _pod_spec_into(template.get("spec"), f"{path}.spec", errs)
    return template


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
    if raw_selector is None:  # apps/v1 has no default; it also matches nothing (below)
        errs.required("spec.selector")
    else:
        validate_label_selector(selector, "spec.selector", errs)
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
    """A defaulted DaemonSet: metadata and its rollout annotations, selector (matching the
    template's labels), the pod template with restartPolicy Always, the update strategy."""
    errs = Errors()
    object_meta_into(ds, errs, namespaced=True)
    validate_rollout_annotations(ds, errs)
    _daemonset_spec(ds, errs)
    return sorted_errors(errs.items)


def validate_node(node: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(node, errs, namespaced=False)
    spec = errs.get_map(node, "spec", "spec")
    if spec.get("taints") is not None:
        validate_taints(spec.get("taints"), "spec.taints", errs)
    errs.get_bool(spec, "unschedulable", "spec.unschedulable")
    return sorted_errors(errs.items)


def validate_namespace(ns: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(ns, errs, namespaced=False, name_check=names.dns1123_label)
    return sorted_errors(errs.items)


def validate_controller_revision(revision: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(revision, errs, namespaced=True)
    if revision.get("data") is None:
        errs.required("data", "data is mandatory")
    number = errs.get_int(revision, "revision", "revision")
    errs.nonnegative("revision", number)
    return sorted_errors(errs.items)


def validate_lease(lease: Obj) -> list[FieldError]:
    errs = Errors()
    object_meta_into(lease, errs, namespaced=True)
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
    object_meta_into(event, errs, namespaced=True)
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
    "ConfigMap": validate_configmap,
    "Secret": validate_secret,
    "ServiceAccount": validate_service_account,
    **RBAC_VALIDATORS,
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
