"""Server-side printing: API objects as meta.k8s.io/v1 Tables with kubectl's columns.

Pure: `render_table(resource, items, resource_version=..., now=...)` mirrors the printers of
kubernetes/pkg/printers/internalversion (printDaemonSet, printPod, printNode, ...); the words
in the cells come from printing.py. As the API server does, every column (the `priority: 1`
"wide" ones too) is always filled; kubectl hides the wide ones unless `-o wide`. `now` is
wall-clock epoch seconds (ages are wall-clock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.meta import name_of
from nodeagent.server.rest.printing import (
    NONE,
    UNKNOWN,
    address,
    age,
    as_int,
    as_list,
    as_map,
    binding_cells,
    created_at,
    format_label_selector,
    format_labels,
    get,
    meta,
    node_roles,
    node_status,
    pod_restarts,
    pod_status_reason,
    since,
)

Cells = list[Any]


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
    include_object: str = "Metadata",
) -> Obj:
    """A Table of `items` (objects of `resource`, e.g. "daemonsets"). Resources without a
    printer get kubectl's default Name and Age columns. Each row carries its object as
    `include_object` asks (the includeObject parameter): "Metadata" (PartialObjectMetadata,
    the default), "Object" (whole; kubectl's --sort-by needs it) or "None"."""
    printer = PRINTERS.get(resource, DEFAULT_PRINTER)
    rows = [_row(printer, item, now, include_object) for item in items]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": (
            [c.definition() for c in printer.columns] if include_column_definitions else []
        ),
        "rows": rows,
    }


INCLUDE_OBJECT = ("Metadata", "Object", "None")


def _row(printer: Printer, item: Obj, now: float, include_object: str) -> Obj:
    metadata = {k: v for k, v in meta(item).items() if k != "managedFields"}
    row: Obj = {"cells": printer.cells(item, now)}
    if include_object == "Object":
        row["object"] = item
    elif include_object != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
        }
    phase = get(item, "status", "phase")
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


# ---------------------------------------------------------------- daemonsets


def _daemonset_cells(ds: Obj, now: float) -> Cells:
    status = ds.get("status") or {}
    pod_spec = get(ds, "spec", "template", "spec") or {}
    containers = as_list(pod_spec.get("containers"))
    return [
        name_of(ds),
        as_int(status.get("desiredNumberScheduled")),
        as_int(status.get("currentNumberScheduled")),
        as_int(status.get("numberReady")),
        as_int(status.get("updatedNumberScheduled")),
        as_int(status.get("numberAvailable")),
        format_labels(pod_spec.get("nodeSelector")),
        age(ds, now),
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        format_label_selector(get(ds, "spec", "selector")),
    ]


# ---------------------------------------------------------------- pods (printPod)


def _pod_cells(pod: Obj, now: float) -> Cells:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = as_list(status.get("containerStatuses"))
    ready = sum(
        1 for cs in statuses if cs.get("ready") and isinstance(get(cs, "state", "running"), dict)
    )
    total = len(as_list(spec.get("containers"))) + sum(
        1 for c in as_list(spec.get("initContainers")) if c.get("restartPolicy") == "Always"
    )
    pod_ips = as_list(status.get("podIPs"))
    pod_ip = (pod_ips[0].get("ip") if pod_ips else None) or status.get("podIP") or NONE
    gates = as_list(spec.get("readinessGates"))
    gates_cell = NONE
    if gates:
        true_conditions = {
            c.get("type") for c in as_list(status.get("conditions")) if c.get("status") == "True"
        }
        passed = sum(1 for g in gates if g.get("conditionType") in true_conditions)
        gates_cell = f"{passed}/{len(gates)}"
    return [
        name_of(pod),
        f"{ready}/{total}",
        pod_status_reason(pod),
        pod_restarts(pod, now),
        age(pod, now),
        pod_ip,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        gates_cell,
    ]


# ---------------------------------------------------------------- nodes (printNode)


def _node_cells(node: Obj, now: float) -> Cells:
    info = get(node, "status", "nodeInfo") or {}
    return [
        name_of(node),
        node_status(node),
        node_roles(node),
        age(node, now),
        info.get("kubeletVersion", ""),
        address(node, "InternalIP"),
        address(node, "ExternalIP"),
        info.get("osImage") or UNKNOWN,
        info.get("kernelVersion") or UNKNOWN,
        info.get("containerRuntimeVersion") or UNKNOWN,
    ]


# ---------------------------------------------------------------- the rest


def _controllerrevision_cells(cr: Obj, now: float) -> Cells:
    controller = NONE
    for ref in as_list(meta(cr).get("ownerReferences")):
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", "")).lower() + (f".{group}" if group else "")
            controller = f"{kind}/{ref.get('name', '')}"
            break
    return [name_of(cr), controller, as_int(cr.get("revision")), age(cr, now)]


def _event_cells(ev: Obj, now: float) -> Cells:
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    first_seen = since(first, now)
    last = ev.get("lastTimestamp")
    last_seen = since(last, now) if last else first_seen
    count = as_int(ev.get("count")) or 1
    series = ev.get("series")
    if isinstance(series, dict):
        last_seen = since(series.get("lastObservedTime"), now)
        count = as_int(series.get("count"))
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
        name_of(ev),
    ]


def _lease_cells(lease: Obj, now: float) -> Cells:
    return [name_of(lease), get(lease, "spec", "holderIdentity") or "", age(lease, now)]


def _namespace_cells(ns: Obj, now: float) -> Cells:
    return [name_of(ns), get(ns, "status", "phase") or "", age(ns, now)]


def _configmap_cells(cm: Obj, now: float) -> Cells:
    data = len(as_map(cm.get("data"))) + len(as_map(cm.get("binaryData")))
    return [name_of(cm), data, age(cm, now)]


def _service_account_cells(account: Obj, now: float) -> Cells:
    return [name_of(account), len(as_list(account.get("secrets"))), age(account, now)]


def _secret_cells(secret: Obj, now: float) -> Cells:
    return [
        name_of(secret),
        str(secret.get("type") or ""),
        len(as_map(secret.get("data"))),
        age(secret, now),
    ]


def _component_status_cells(cs: Obj, now: float) -> Cells:
    """printComponentStatus: the Healthy condition's status, message and error."""
    for cond in as_list(cs.get("conditions")):
        if isinstance(cond, dict) and cond.get("type") == "Healthy":
            status = "Healthy" if cond.get("status") == "True" else "Unhealthy"
            return [name_of(cs), status, cond.get("message", ""), cond.get("error", "")]
    return [name_of(cs), "Unknown", "", ""]


def _default_cells(obj: Obj, now: float) -> Cells:
    return [name_of(obj), age(obj, now)]


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
    "configmaps": Printer(
        columns=(NAME, _c("Data", "Number of data keys in the config map.", type=NUMBER), AGE),
        cells=_configmap_cells,
    ),
    "secrets": Printer(
        columns=(
            NAME,
            _c("Type", "The type of the secret."),
            _c("Data", "Number of data keys in the secret.", type=NUMBER),
            AGE,
        ),
        cells=_secret_cells,
    ),
    "serviceaccounts": Printer(
        columns=(
            NAME,
            _c(
                "Secrets",
                "Secrets is the list of secrets allowed to be used by pods running using this "
                "ServiceAccount.",
                type=NUMBER,
            ),
            AGE,
        ),
        cells=_service_account_cells,
    ),
    "namespaces": Printer(
        columns=(NAME, _c("Status", "The status of the namespace."), AGE),
        cells=_namespace_cells,
    ),
}
_CREATED_AT = Column(name="Created At", type="date", description="When the object was created.")
_ROLE = Printer(columns=(NAME, _CREATED_AT), cells=lambda r, _now: [name_of(r), created_at(r)])
_BINDING = Printer(
    columns=(
        NAME,
        _c("Role", "The Role or ClusterRole the binding grants (Kind/name)."),
        AGE,
        _c("Users", "Users in the roleBinding", wide=True),
        _c("Groups", "Groups in the roleBinding", wide=True),
        _c("ServiceAccounts", "ServiceAccounts in the roleBinding", wide=True),
    ),
    cells=binding_cells,
)
PRINTERS = {
    **PRINTERS,
    "roles": _ROLE,
    "clusterroles": _ROLE,
    "rolebindings": _BINDING,
    "clusterrolebindings": _BINDING,
    "componentstatuses": Printer(
        columns=(
            NAME,
            _c("Status", "Status of the component conditions"),
            _c("Message", "Message of the component conditions"),
            _c("Error", "Error of the component conditions"),
        ),
        cells=_component_status_cells,
    ),
}
DEFAULT_PRINTER = Printer(columns=(NAME, AGE), cells=_default_cells)
