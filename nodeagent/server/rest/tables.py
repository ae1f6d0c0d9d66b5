"""Server-side printing: API objects as meta.k8s.io/v1 Tables with kubectl's columns.

Pure: `render_table(resource, items, resource_version=..., now=...)` mirrors the printers of
kubernetes/pkg/printers/internalversion (printDaemonSet, printPod, printNode, ...). As the API
server does, every column (the `priority: 1` "wide" ones too) is always filled; kubectl hides
the wide ones unless `-o wide`. `now` is wall-clock epoch seconds (ages are wall-clock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nodeagent.api import timefmt
from nodeagent.api.timefmt import format_age

Obj = dict[str, Any]
Cells = list[Any]
NONE = "<none>"
UNKNOWN = "<unknown>"


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    name: str
    type: str = "string"
    format: str = ""
    priority: int = 0
    description: str = ""

    def definition(self) -> Obj:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Printer:
    columns: tuple[Column, ...]
    cells: Callable[[Obj, float], Cells]


def render_table(
    resource: str,
    items: list[Obj],
    *,
    resource_version: str,
    now: float,
    include_column_definitions: bool = True,
) -> Obj:
    """A Table of `items` (objects of `resource`, e.g. "daemonsets"). Resources without a
    printer get kubectl's default Name and Age columns."""
    printer = PRINTERS.get(resource, DEFAULT_PRINTER)
    rows = [_row(printer, item, now) for item in items]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": (
            [c.definition() for c in printer.columns] if include_column_definitions else []
        ),
        "rows": rows,
    }


def _row(printer: Printer, item: Obj, now: float) -> Obj:
    metadata = {k: v for k, v in _meta(item).items() if k != "managedFields"}
    row: Obj = {
        "cells": printer.cells(item, now),
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
        },
    }
    phase = _get(item, "status", "phase")
    if item.get("kind") == "Pod" and phase in _POD_ROW_CONDITIONS:
        row["conditions"] = [_POD_ROW_CONDITIONS[phase]]
    return row


_POD_ROW_CONDITIONS: Mapping[str, Obj] = {
    "Succeeded": {
        "type": "Completed",
        "status": "True",
        "reason": "Succeeded",
        "message": "The pod has completed successfully.",
    },
    "Failed": {
        "type": "Completed",
        "status": "True",
        "reason": "Failed",
        "message": "The pod failed.",
    },
}


# ---------------------------------------------------------------- helpers


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def parse_time(value: Any) -> float | None:
    """RFC 3339 to epoch seconds, None when absent or unparsable (shown as <unknown>)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return timefmt.parse_time(value)
    except ValueError:
        return None


def _since(value: Any, now: float) -> str:
    """translateTimestampSince: `<unknown>` for no time, else a human duration."""
    when = parse_time(value)
    if when is None:
        return UNKNOWN
    return format_age(max(0.0, now - when))


def _age(obj: Obj, now: float) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: `a=b,c=d` sorted by key, `<none>` when empty."""
    if not isinstance(labels, dict) or not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: requirements sorted by key, `<none>` when empty."""
    if not isinstance(selector, dict):
        return NONE
    requirements: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        text = _SELECTOR_OPS.get(op, "{key} <error>").format(key=key, values=values)
        requirements.append((key, text))
    requirements.sort(key=lambda r: r[0])
    return ",".join(text for _, text in requirements) or NONE


_SELECTOR_OPS: Mapping[str, str] = {
    "In": "{key} in ({values})",
    "NotIn": "{key} notin ({values})",
    "Exists": "{key}",
    "DoesNotExist": "!{key}",
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


# ---------------------------------------------------------------- daemonsets


def _daemonset_cells(ds: Obj, now: float) -> Cells:
    status = ds.get("status") or {}
    pod_spec = _get(ds, "spec", "template", "spec") or {}
    containers = _list(pod_spec.get("containers"))
    return [
        _name(ds),
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        format_labels(pod_spec.get("nodeSelector")),
        _age(ds, now),
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        format_label_selector(_get(ds, "spec", "selector")),
    ]


# ---------------------------------------------------------------- pods (printPod)


def pod_status_reason(pod: Obj) -> str:
    """The STATUS column: kubectl's printPod reasoning over phase and container states."""
    status = pod.get("status") or {}
    phase = status.get("phase") or ""
    reason: str = status.get("reason") or phase
    for cond in _list(status.get("conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_total = len(_list(_get(pod, "spec", "initContainers")))
    initializing = False
    for i, cs in enumerate(_list(status.get("initContainerStatuses"))):
        terminated = _get(cs, "state", "terminated")
        waiting_reason = _get(cs, "state", "waiting", "reason")
        if isinstance(terminated, dict) and terminated.get("exitCode") == 0:
            continue
        if isinstance(terminated, dict):
            if terminated.get("reason"):
                reason = "Init:" + str(terminated["reason"])
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode')}"
        elif waiting_reason and waiting_reason != "PodInitializing":
            reason = "Init:" + str(waiting_reason)
        else:
            reason = f"Init:{i}/{init_total}"
        initializing = True
        break

    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in _list(status.get("conditions"))
    )
    if not initializing or initialized:
        has_running = False
        for cs in reversed(_list(status.get("containerStatuses"))):
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, dict):
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode')}"
            elif cs.get("ready") and isinstance(state.get("running"), dict):
                has_running = True
        if reason == "Completed" and has_running:
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in _list(status.get("conditions"))
            )
            reason = "Running" if ready else "NotReady"

    if _meta(pod).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason


def _pod_restarts(pod: Obj, now: float) -> str:
    restarts = 0
    last: float | None = None
    for cs in _list(_get(pod, "status", "containerStatuses")):
        restarts += _int(cs.get("restartCount"))
        finished = parse_time(_get(cs, "lastState", "terminated", "finishedAt"))
        if finished is not None and (last is None or finished > last):
            last = finished
    if restarts and last is not None:
        return f"{restarts} ({format_age(max(0.0, now - last))} ago)"
    return str(restarts)


def _pod_cells(pod: Obj, now: float) -> Cells:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = _list(status.get("containerStatuses"))
    ready = sum(
        1 for cs in statuses if cs.get("ready") and isinstance(_get(cs, "state", "running"), dict)
    )
    total = len(_list(spec.get("containers"))) + sum(
        1 for c in _list(spec.get("initContainers")) if c.get("restartPolicy") == "Always"
    )
    pod_ips = _list(status.get("podIPs"))
    pod_ip = (pod_ips[0].get("ip") if pod_ips else None) or status.get("podIP") or NONE
    gates = _list(spec.get("readinessGates"))
    gates_cell = NONE
    if gates:
        true_conditions = {
            c.get("type") for c in _list(status.get("conditions")) if c.get("status") == "True"
        }
        passed = sum(1 for g in gates if g.get("conditionType") in true_conditions)
        gates_cell = f"{passed}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{total}",
        pod_status_reason(pod),
        _pod_restarts(pod, now),
        _age(pod, now),
        pod_ip,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        gates_cell,
    ]


# ---------------------------------------------------------------- nodes (printNode)


ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"


def node_status(node: Obj) -> str:
    """`Ready`, `NotReady` (Ready False or Unknown), `Unknown` (no Ready condition yet), with
    `,SchedulingDisabled` when cordoned."""
    words = [
        "Ready" if c.get("status") == "True" else "NotReady"
        for c in _list(_get(node, "status", "conditions"))
        if c.get("type") == "Ready"
    ][:1] or ["Unknown"]
    if _get(node, "spec", "unschedulable"):
        words.append("SchedulingDisabled")
    return ",".join(words)


def node_roles(node: Obj) -> str:
    labels = _meta(node).get("labels") or {}
    roles = {k[len(ROLE_LABEL_PREFIX) :] for k in labels if k.startswith(ROLE_LABEL_PREFIX)}
    if labels.get("kubernetes.io/role"):
        roles.add(str(labels["kubernetes.io/role"]))
    roles.discard("")
    return ",".join(sorted(roles)) or NONE


def _address(node: Obj, kind: str) -> str:
    for addr in _list(_get(node, "status", "addresses")):
        if addr.get("type") == kind:
            return str(addr.get("address", NONE))
    return NONE


def _node_cells(node: Obj, now: float) -> Cells:
    info = _get(node, "status", "nodeInfo") or {}
    return [
        _name(node),
        node_status(node),
        node_roles(node),
        _age(node, now),
        info.get("kubeletVersion", ""),
        _address(node, "InternalIP"),
        _address(node, "ExternalIP"),
        info.get("osImage") or UNKNOWN,
        info.get("kernelVersion") or UNKNOWN,
        info.get("containerRuntimeVersion") or UNKNOWN,
    ]


# ---------------------------------------------------------------- the rest


def _controllerrevision_cells(cr: Obj, now: float) -> Cells:
    controller = NONE
    for ref in _list(_meta(cr).get("ownerReferences")):
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", "")).lower() + (f".{group}" if group else "")
            controller = f"{kind}/{ref.get('name', '')}"
            break
    return [_name(cr), controller, _int(cr.get("revision")), _age(cr, now)]


def _event_cells(ev: Obj, now: float) -> Cells:
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    first_seen = _since(first, now)
    last = ev.get("lastTimestamp")
    last_seen = _since(last, now) if last else first_seen
    count = _int(ev.get("count")) or 1
    series = ev.get("series")
    if isinstance(series, dict):
        last_seen = _since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    involved = ev.get("involvedObject") or {}
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    instance = source.get("host") or ev.get("reportingInstance") or ""
    return [
        last_seen,
        ev.get("type", ""),
        ev.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(ev.get("message", "")).strip(),
        first_seen,
        count,
        _name(ev),
    ]


def _lease_cells(lease: Obj, now: float) -> Cells:
    return [_name(lease), _get(lease, "spec", "holderIdentity") or "", _age(lease, now)]


def _namespace_cells(ns: Obj, now: float) -> Cells:
    return [_name(ns), _get(ns, "status", "phase") or "", _age(ns, now)]


def _default_cells(obj: Obj, now: float) -> Cells:
    return [_name(obj), _age(obj, now)]


def _c(name: str, description: str, *, type: str = "string", wide: bool = False) -> Column:
    return Column(name=name, type=type, priority=1 if wide else 0, description=description)


NAME = Column(name="Name", format="name", description="Name must be unique within a namespace.")
AGE = _c("Age", "The time since the object was created (metadata.creationTimestamp).")
NUMBER = "integer"

PRINTERS: Mapping[str, Printer] = {
    "daemonsets": Printer(
        columns=(
            NAME,
            _c("Desired", "Nodes that should be running the daemon pod.", type=NUMBER),
            _c("Current", "Nodes running at least one daemon pod.", type=NUMBER),
            _c("Ready", "Nodes with a ready daemon pod.", type=NUMBER),
            _c("Up-to-date", "Nodes running the updated daemon pod.", type=NUMBER),
            _c("Available", "Nodes with an available daemon pod.", type=NUMBER),
            _c("Node Selector", "The node selector of the pod template."),
            AGE,
            _c("Containers", "Names of each container in the template.", wide=True),
            _c("Images", "Images referenced by each container in the template.", wide=True),
            _c("Selector", "A label query over the pods of the daemon set.", wide=True),
        ),
        cells=_daemonset_cells,
    ),
    "pods": Printer(
        columns=(
            NAME,
            _c("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            _c("Status", "The aggregate status of the containers in this pod."),
            _c("Restarts", "Container restarts, and when the last one restarted."),
            AGE,
            _c("IP", "The IP address allocated to the pod.", wide=True),
            _c("Node", "The node the pod is bound to.", wide=True),
            _c("Nominated Node", "The node the pod is nominated to run on.", wide=True),
            _c("Readiness Gates", "The readiness gates that pass, of those declared.", wide=True),
        ),
        cells=_pod_cells,
    ),
    "nodes": Printer(
        columns=(
            NAME,
            _c("Status", "The status of the node."),
            _c("Roles", "The roles of the node."),
            AGE,
            _c("Version", "Kubelet Version reported by the node."),
            _c("Internal-IP", "The node's first InternalIP address.", wide=True),
            _c("External-IP", "The node's first ExternalIP address.", wide=True),
            _c("OS-Image", "OS Image reported by the node.", wide=True),
            _c("Kernel-Version", "Kernel Version reported by the node.", wide=True),
            _c("Container-Runtime", "Container Runtime Version reported by the node.", wide=True),
        ),
        cells=_node_cells,
    ),
    "controllerrevisions": Printer(
        columns=(
            NAME,
            _c("Controller", "Controller of the object."),
            _c("Revision", "The revision of the state represented by Data.", type=NUMBER),
            AGE,
        ),
        cells=_controllerrevision_cells,
    ),
    "events": Printer(
        columns=(
            _c("Last Seen", "When the most recent occurrence of this event was recorded."),
            _c("Type", "Type of this event (Normal, Warning)."),
            _c("Reason", "Why the transition into the object's current status happened."),
            _c("Object", "The object that this event is about."),
            _c("Subobject", "The field of the object the event is about.", wide=True),
            _c("Source", "The component reporting this event.", wide=True),
            _c("Message", "A human-readable description of the status of this operation."),
            _c("First Seen", "When the event was first recorded.", wide=True),
            _c("Count", "The number of times this event has occurred.", wide=True),
            Column(name="Name", format="name", priority=1, description="The event's name."),
        ),
        cells=_event_cells,
    ),
    "leases": Printer(
        columns=(NAME, _c("Holder", "The holder of the lease."), AGE),
        cells=_lease_cells,
    ),
    "namespaces": Printer(
        columns=(NAME, _c("Status", "The status of the namespace."), AGE),
        cells=_namespace_cells,
    ),
}
DEFAULT_PRINTER = Printer(columns=(NAME, AGE), cells=_default_cells)
