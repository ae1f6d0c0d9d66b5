"""What kubectl shows for an object, word for word: pod STATUS and RESTARTS, node STATUS and
ROLES, labels and selectors, ages. Pure; used by the Tables (tables.py).

Follows kubernetes/pkg/printers/internalversion/printers.go (printPod, printNode) and
apimachinery's FormatLabels / FormatLabelSelector / HumanDuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodeagent.api import timefmt
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_age

NONE = "<none>"
UNKNOWN = "<unknown>"


def get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def meta(obj: Obj) -> Obj:
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


def since(value: Any, now: float) -> str:
    """translateTimestampSince: `<unknown>` for no time, else a human duration."""
    when = parse_time(value)
    if when is None:
        return UNKNOWN
    return format_age(max(0.0, now - when))


def age(obj: Obj, now: float) -> str:
    return since(meta(obj).get("creationTimestamp"), now)


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


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# ---------------------------------------------------------------- pods (printPod)


def pod_status_reason(pod: Obj) -> str:
    """The STATUS column: kubectl's printPod reasoning over phase and container states."""
    status = pod.get("status") or {}
    phase = status.get("phase") or ""
    reason: str = status.get("reason") or phase
    for cond in as_list(status.get("conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_total = len(as_list(get(pod, "spec", "initContainers")))
    initializing = False
    for i, cs in enumerate(as_list(status.get("initContainerStatuses"))):
        terminated = get(cs, "state", "terminated")
        waiting_reason = get(cs, "state", "waiting", "reason")
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
        for c in as_list(status.get("conditions"))
    )
    if not initializing or initialized:
        has_running = False
        for cs in reversed(as_list(status.get("containerStatuses"))):
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
                for c in as_list(status.get("conditions"))
            )
            reason = "Running" if ready else "NotReady"

    if meta(pod).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason


def pod_restarts(pod: Obj, now: float) -> str:
    restarts = 0
    last: float | None = None
    for cs in as_list(get(pod, "status", "containerStatuses")):
        restarts += as_int(cs.get("restartCount"))
        finished = parse_time(get(cs, "lastState", "terminated", "finishedAt"))
        if finished is not None and (last is None or finished > last):
            last = finished
    if restarts and last is not None:
        return f"{restarts} ({format_age(max(0.0, now - last))} ago)"
    return str(restarts)


# ---------------------------------------------------------------- nodes (printNode)


ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"


def node_status(node: Obj) -> str:
    """`Ready`, `NotReady` (Ready False or Unknown), `Unknown` (no Ready condition yet), with
    `,SchedulingDisabled` when cordoned."""
    words = [
        "Ready" if c.get("status") == "True" else "NotReady"
        for c in as_list(get(node, "status", "conditions"))
        if c.get("type") == "Ready"
    ][:1] or ["Unknown"]
    if get(node, "spec", "unschedulable"):
        words.append("SchedulingDisabled")
    return ",".join(words)


def node_roles(node: Obj) -> str:
    labels = meta(node).get("labels") or {}
    roles = {k[len(ROLE_LABEL_PREFIX) :] for k in labels if k.startswith(ROLE_LABEL_PREFIX)}
    if labels.get("kubernetes.io/role"):
        roles.add(str(labels["kubernetes.io/role"]))
    roles.discard("")
    return ",".join(sorted(roles)) or NONE


def address(node: Obj, kind: str) -> str:
    for addr in as_list(get(node, "status", "addresses")):
        if addr.get("type") == kind:
            return str(addr.get("address", NONE))
    return NONE


def created_at(obj: Obj) -> str:
    """A Role's or ClusterRole's "Created At" cell: the creationTimestamp in RFC 3339 (UTC)."""
    return str(meta(obj).get("creationTimestamp") or "")


def binding_cells(binding: Obj, now: float) -> list[Any]:
    """printRoleBinding / printClusterRoleBinding: name, Kind/name of the role, age, then the
    users, groups and ServiceAccounts (namespace/name) of rbac.SubjectsStrings, ", "-joined."""
    ref = as_map(binding.get("roleRef"))
    subjects = [s for s in as_list(binding.get("subjects")) if isinstance(s, dict)]

    def named(kind: str) -> str:
        return ", ".join(str(s.get("name", "")) for s in subjects if s.get("kind") == kind)

    accounts = ", ".join(
        f"{s.get('namespace', '')}/{s.get('name', '')}"
        for s in subjects
        if s.get("kind") == "ServiceAccount"
    )
    return [
        str(meta(binding).get("name", "")),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(binding, now),
        named("User"),
        named("Group"),
        accounts,
    ]
