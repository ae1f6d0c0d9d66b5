"""PURE: which daemon pods to create and delete, node by node (kube-controller-manager `manage`).

Also the claim decision (adopt orphans that match the selector, release pods that no longer
match), the failed-pod backoff, and the pod a DaemonSet creates on a node. No I/O, `now` is a
parameter; the controller applies what these functions return.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nodeagent.api import meta, scheduling
from nodeagent.api.bodies import Obj
from nodeagent.api.selectors import LabelSelector
from nodeagent.server.controllers.daemonset.strategy import allows_surge

HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
TERMINAL_PHASES = frozenset({"Failed", "Succeeded"})
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 15 * 60.0


is_terminating = meta.is_pod_terminating  # any object: it has a deletionTimestamp
name_of, uid_of, labels_of, phase_of = meta.name_of, meta.uid_of, meta.labels_of, meta.pod_phase


def node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def pod_order(pod: Obj) -> tuple[bool, str, str]:
    """Oldest first, scheduled pods before unscheduled ones (podByCreationTimestampAndPhase)."""
    created = str((pod.get("metadata") or {}).get("creationTimestamp") or "")
    return (not node_of(pod), created, name_of(pod))


def selector_of(ds: Obj) -> LabelSelector:
    return LabelSelector.from_dict((ds.get("spec") or {}).get("selector") or {})


def selects_everything(ds: Obj) -> bool:
    sel = (ds.get("spec") or {}).get("selector") or {}
    return not sel.get("matchLabels") and not sel.get("matchExpressions")


def template_generation(ds: Obj) -> str:
    """The DS template generation: the API server's annotation, else metadata.generation."""
    annotations = (ds.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TEMPLATE_GENERATION_ANNOTATION)
    if value is not None:
        return str(value)
    return str((ds.get("metadata") or {}).get("generation") or 1)


def is_pod_updated(pod: Obj, hash_: str) -> bool:
    """A pod runs the current template when its controller-revision-hash matches.

    Kubernetes also accepts a matching pod-template-generation label; we do not, so pods
    adopted from a deleted DaemonSet with another template are replaced (docs/controllers.md).
    """
    return bool(hash_) and labels_of(pod).get(HASH_LABEL) == hash_


# --- claiming ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """Pods this DS controls after claiming, and the ownership writes that needs."""

    owned: list[Obj]
    adopt: list[Obj]  # orphans matching the selector: add our controller ownerReference
    release: list[Obj]  # ours but no longer matching: remove our ownerReference


def claim_pods(ds: Obj, pods: Iterable[Obj]) -> Claim:
    """ClaimPods: controlled pods stay ours if they match; matching orphans are adopted."""
    selector = selector_of(ds)
    ds_uid = uid_of(ds)
    owned: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    can_adopt = not is_terminating(ds)
    for pod in pods:
        if meta.is_mirror_pod(pod):
            continue  # a static pod's mirror belongs to its node, never to a DaemonSet
        ref = meta.controller_ref(pod)
        matches = selector.matches(labels_of(pod))
        if ref is not None:
            if ref.get("uid") != ds_uid:
                continue
            if matches:
                owned.append(pod)
            elif not is_terminating(pod):
                release.append(pod)
            continue
        if matches and can_adopt and not is_terminating(pod):
            adopt.append(pod)
            owned.append(pod)
    return Claim(owned=owned, adopt=adopt, release=release)


def owner_reference(ds: Obj) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "name": name_of(ds),
        "uid": uid_of(ds),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def adopted(pod: Obj, ds: Obj) -> Obj:
    """The pod with our controller ownerReference added."""
    new = copy.deepcopy(pod)
    refs = new.setdefault("metadata", {}).setdefault("ownerReferences", [])
    refs.append(owner_reference(ds))
    return new


def released(pod: Obj, ds: Obj) -> Obj:
    """The pod with our ownerReference removed."""
    new = copy.deepcopy(pod)
    refs = new.get("metadata", {}).get("ownerReferences") or []
    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid_of(ds)]
    return new


def pods_by_node(
    pods: Iterable[Obj], *, include_deleted_terminal: bool = False
) -> dict[str, list[Obj]]:
    """Daemon pods grouped by spec.nodeName; deleted terminal pods left out unless asked."""
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        if (
            not include_deleted_terminal
            and is_terminating(pod)
            and phase_of(pod) in TERMINAL_PHASES
        ):
            continue
        node = node_of(pod)
        if node:
            out.setdefault(node, []).append(pod)
    return out


# --- failed-pod backoff --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffEntry:
    """flowcontrol.Backoff per (DS uid, node): the current delay and when it last grew."""

    delay: float
    last_update: float


def backoff_key(ds: Obj, node_name: str) -> str:
    return f"{uid_of(ds)}/{node_name}"


def in_backoff(entry: BackoffEntry | None, now: float) -> bool:
    return entry is not None and now - entry.last_update < entry.delay


def next_backoff(entry: BackoffEntry | None, now: float) -> BackoffEntry:
    """Double the delay (1 s .. 15 min); start over when the entry is stale (2 x max)."""
    if entry is None or now - entry.last_update > 2 * BACKOFF_MAX:
        return BackoffEntry(delay=BACKOFF_INITIAL, last_update=now)
    return BackoffEntry(delay=min(entry.delay * 2, BACKOFF_MAX), last_update=now)


# --- manage --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedPod:
    pod: Obj
    node_name: str

    def message(self) -> str:
        meta_ = self.pod.get("metadata") or {}
        return (
            f"Found failed daemon pod {meta_.get('namespace', '')}/{meta_.get('name', '')} "
            f"on node {self.node_name}, will try to kill it"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagePlan:
    """What manage decided: nodes needing a pod, pods to delete, and bookkeeping."""

    create_on: list[str] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    failed: list[FailedPod] = field(default_factory=list)
    backoff: dict[str, BackoffEntry] = field(default_factory=dict)  # entries to store
    requeue_after: float | None = None


def manage(
    *,
    ds: Obj,
    nodes: Iterable[Obj],
    daemon_pods: Iterable[Obj],
    hash_: str,
    backoff: Mapping[str, BackoffEntry],
    now: float,
) -> ManagePlan:
    """Per node: create where it should run and has none; delete where it should not, extra
    pods (oldest kept; with surge, one old and one new), and failed pods (with backoff)."""
    by_node = pods_by_node(daemon_pods)
    create_on: list[str] = []
    delete: list[Obj] = []
    failed: list[FailedPod] = []
    new_backoff: dict[str, BackoffEntry] = {}
    requeue: list[float] = []
    surge = allows_surge(ds)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    placement = scheduling.daemon_placement(ds)
    for node in nodes:
        node_name = name_of(node)
        decision = placement.on(node)
        pods = by_node.get(node_name)
        if decision.should_run and not pods:
            create_on.append(node_name)
        elif decision.should_continue_running and pods:
            running: list[Obj] = []
            for pod in pods:
                if is_terminating(pod):
                    continue
                phase = phase_of(pod)
                if phase == "Failed":
                    key = backoff_key(ds, node_name)
                    entry = new_backoff.get(key) or backoff.get(key)
                    if in_backoff(entry, now):
                        assert entry is not None
                        requeue.append(entry.delay - (now - entry.last_update))
                        continue
                    new_backoff[key] = next_backoff(entry, now)
                    failed.append(FailedPod(pod=pod, node_name=node_name))
                    delete.append(pod)
                elif phase == "Succeeded":
                    delete.append(pod)
                else:
                    running.append(pod)
            delete.extend(_excess(running, hash_=hash_, surge=surge, min_ready=min_ready, now=now))
        elif not decision.should_continue_running and pods:
            delete.extend(p for p in pods if not is_terminating(p))
    return ManagePlan(
        create_on=create_on,
        delete=delete,
        failed=failed,
        backoff=new_backoff,
        requeue_after=min(requeue) if requeue else None,
    )


def _excess(
    running: list[Obj], *, hash_: str, surge: bool, min_ready: int, now: float
) -> list[Obj]:
    """More than one running pod on a node: without surge keep the oldest; with surge keep
    the oldest new and oldest old pod, and drop the old one once the new one is available
    (or at once when the old one is not ready)."""
    if len(running) <= 1:
        return []
    ordered = sorted(running, key=pod_order)
    if not surge:
        return ordered[1:]
    extra: list[Obj] = []
    oldest_new: Obj | None = None
    oldest_old: Obj | None = None
    for pod in ordered:
        if is_pod_updated(pod, hash_):
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        extra.append(pod)
    if (
        oldest_new is not None
        and oldest_old is not None
        and (not meta.is_pod_ready(oldest_old) or meta.is_pod_available(oldest_new, min_ready, now))
    ):
        extra.append(oldest_old)
    return extra


# --- the pod a DaemonSet creates ----------------------------------------------------------


def new_pod(ds: Obj, *, node_name: str, hash_: str) -> Obj:
    """The daemon pod for node_name: the template with the automatic tolerations, our labels,
    generateName `<ds>-`, nodeName set, and a controller ownerReference to the DS."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    tmeta: Obj = template.get("metadata") or {}
    spec: Obj = scheduling.add_daemonset_tolerations(template.get("spec") or {})
    labels = dict(tmeta.get("labels") or {})
    labels[GENERATION_LABEL] = template_generation(ds)
    if hash_:
        labels[HASH_LABEL] = hash_
    metadata: Obj = {
        k: v for k, v in tmeta.items() if k not in ("name", "namespace", "uid", "resourceVersion")
    }
    metadata.update(
        {
            "generateName": f"{name_of(ds)}-",
            "namespace": (ds.get("metadata") or {}).get("namespace") or "default",
            "labels": labels,
            "ownerReferences": [owner_reference(ds)],
        }
    )
    metadata.pop("creationTimestamp", None)
    spec = dict(spec)
    spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
