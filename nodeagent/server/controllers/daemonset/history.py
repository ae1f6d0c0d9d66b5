"""PURE: the DaemonSet's ControllerRevisions (daemon_controller.go constructHistory, snapshot,
dedupCurHistories, cleanupHistory).

A revision stores the template as the strategic merge patch kubectl applies on `rollout undo`:
`{"spec":{"template":{...,"$patch":"replace"}}}`, serialized exactly as Go's json.Marshal does
over maps (compact, keys sorted, <>& escaped), so kubectl's byte comparison matches.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nodeagent.api import hashing, meta
from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.daemonset.plan import (
    HASH_LABEL,
    labels_of,
    name_of,
    owner_reference,
    selector_of,
    uid_of,
)

CHANGE_CAUSE = "kubernetes.io/change-cause"

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json(value: Any) -> str:
    """json.Marshal of a map[string]interface{}: compact, sorted keys, HTML-safe escapes."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def _drop_null_creation(template: Obj) -> Obj:
    tmeta = template.get("metadata")
    if isinstance(tmeta, dict) and tmeta.get("creationTimestamp", "") is None:
        del tmeta["creationTimestamp"]
    return template


def revision_patch(ds: Obj) -> str:
    """getPatch: the SMP that restores ds's template, as the exact bytes kubectl compares."""
    template = _drop_null_creation(copy.deepcopy((ds.get("spec") or {}).get("template") or {}))
    template["$patch"] = "replace"
    return go_json({"spec": {"template": template}})


def matches(ds: Obj, revision: Obj) -> bool:
    """Match: the revision holds this DS's current template."""
    return go_json(revision.get("data")) == revision_patch(ds)


def revision_number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def collision_count(ds: Obj) -> int | None:
    value = (ds.get("status") or {}).get("collisionCount")
    return None if value is None else int(value)


def current_hash(ds: Obj) -> str:
    template = (ds.get("spec") or {}).get("template") or {}
    return str(hashing.template_hash(template, collision_count(ds)))


def snapshot(ds: Obj, *, revision: int) -> Obj:
    """A new ControllerRevision `<ds>-<hash>` for the DS's current template."""
    hash_ = current_hash(ds)
    dmeta = ds.get("metadata") or {}
    template_labels = ((ds.get("spec") or {}).get("template") or {}).get("metadata") or {}
    labels = dict(template_labels.get("labels") or {})
    labels[HASH_LABEL] = hash_
    metadata: Obj = {
        "name": f"{name_of(ds)}-{hash_}",
        "namespace": dmeta.get("namespace") or "default",
        "labels": labels,
        "ownerReferences": [owner_reference(ds)],
    }
    annotations = dict(dmeta.get("annotations") or {})
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": metadata,
        "data": json.loads(revision_patch(ds)),
        "revision": revision,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryPlan:
    """What constructHistory decided. Exactly one of create / current is set."""

    create: Obj | None = None  # a new revision to create
    current: Obj | None = None  # the existing revision for the current template
    set_revision: int | None = None  # bump current's revision to this number
    duplicates: list[Obj] = field(default_factory=list)  # other revisions of the same template
    relabel: list[Obj] = field(default_factory=list)  # pods to move to current's hash label
    old: list[Obj] = field(default_factory=list)
    hash_label_missing: list[Obj] = field(default_factory=list)  # revisions to label by name

    @property
    def hash(self) -> str:
        rev = self.create if self.create is not None else self.current
        return labels_of(rev or {}).get(HASH_LABEL, "")


def controlled_revisions(ds: Obj, revisions: Iterable[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(ours, adoptable orphans): revisions controlled by the DS, and orphans matching its
    selector (ClaimControllerRevisions)."""
    ours: list[Obj] = []
    orphans: list[Obj] = []
    selector = selector_of(ds)
    for rev in revisions:
        ref = meta.controller_ref(rev)
        if ref is None:
            if selector.matches(labels_of(rev)) and not (ds.get("metadata") or {}).get(
                "deletionTimestamp"
            ):
                orphans.append(rev)
        elif ref.get("uid") == uid_of(ds):
            ours.append(rev)
    return ours, orphans


def construct_history(ds: Obj, revisions: Iterable[Obj], daemon_pods: Iterable[Obj]) -> HistoryPlan:
    """Split revisions into current and old; plan a new revision or a revision-number bump
    (a template that matches an old revision reuses it with the next number); dedup."""
    current: list[Obj] = []
    old: list[Obj] = []
    missing_label: list[Obj] = []
    for rev in revisions:
        if HASH_LABEL not in labels_of(rev):
            rev = copy.deepcopy(rev)
            rev["metadata"].setdefault("labels", {})[HASH_LABEL] = name_of(rev)
            missing_label.append(rev)
        (current if matches(ds, rev) else old).append(rev)
    next_revision = max((revision_number(r) for r in old), default=0) + 1
    if not current:
        return HistoryPlan(
            create=snapshot(ds, revision=next_revision),
            old=old,
            hash_label_missing=missing_label,
        )
    keep = current[0]
    for rev in current:
        if revision_number(rev) >= revision_number(keep):
            keep = rev
    duplicates = [r for r in current if name_of(r) != name_of(keep)]
    keep_hash = labels_of(keep).get(HASH_LABEL, "")
    relabel = (
        [p for p in daemon_pods if labels_of(p).get(HASH_LABEL) != keep_hash] if duplicates else []
    )
    return HistoryPlan(
        current=keep,
        set_revision=next_revision if revision_number(keep) < next_revision else None,
        duplicates=duplicates,
        relabel=relabel,
        old=old,
        hash_label_missing=missing_label,
    )


def history_to_prune(ds: Obj, old: Iterable[Obj], all_daemon_pods: Iterable[Obj]) -> list[Obj]:
    """cleanupHistory: the oldest old revisions beyond revisionHistoryLimit, skipping any whose
    hash a live pod (terminating and terminal ones included) still carries."""
    old_list = sorted(old, key=revision_number)
    limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
    to_kill = len(old_list) - (10 if limit is None else int(limit))
    if to_kill <= 0:
        return []
    live = {labels_of(p).get(HASH_LABEL) for p in all_daemon_pods} - {None, ""}
    prune: list[Obj] = []
    for rev in old_list:
        if to_kill <= 0:
            break
        if labels_of(rev).get(HASH_LABEL) in live:
            continue
        prune.append(rev)
        to_kill -= 1
    return prune
