"""Cascading deletion: the garbage collector for ownerReferences, finalizers and namespaces.

A pure pass (`plan_collection`) looks at every object and says what to do: delete dependents
whose owners are all gone or are being deleted in the foreground, strip references to orphaning
or vanished owners, drop the `orphan` / `foregroundDeletion` finalizers once their work is
done, empty terminating namespaces; expired Events are pruned. `run_collector` executes
passes whenever the registry signals (and every few seconds), as kube-controller-manager's
garbagecollector does. Pods of removed nodes are not ours: controllers/gc.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import APIError, NotFound
from nodeagent.api.resources import RESOURCES
from nodeagent.server.events import expired
from nodeagent.server.objectrules import (
    FOREGROUND_FINALIZER,
    NAMESPACE_FINALIZER,
    ORPHAN_FINALIZER,
)
from nodeagent.server.registry import StoreRegistry

log = structlog.get_logger()

Key = tuple[str, str, str]  # resource, namespace, name

# Each pass reads every object, so signals arriving together are served by one pass.
COALESCE_SECONDS = 0.1
PASS_SHARE_FACTOR = 9.0  # wait 9x the last pass's time: passes take at most ~10 % of the loop


@dataclass(frozen=True, slots=True, kw_only=True)
class Collection:
    """One pass's decisions."""

    delete: tuple[Key, ...] = ()  # dependents (and namespace contents) to delete, Background
    strip_owners: tuple[tuple[Key, frozenset[str]], ...] = ()  # remove refs to these uids
    drop_finalizer: tuple[tuple[Key, str], ...] = ()  # owners whose cascade is complete


def _key(resource: str, obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return resource, str(meta.get("namespace") or ""), str(meta.get("name") or "")


def plan_collection(objects: Iterable[tuple[str, Obj]]) -> Collection:
    """PURE: what the collector should do for this snapshot of (resource, object) pairs.

    Invariants: a dependent is deleted only when every owner is gone or foreground-deleting;
    an owner's finalizer is dropped only when no dependent still refers to it.
    """
    snapshot = list(objects)
    by_uid: dict[str, Obj] = {}
    for _r, obj in snapshot:
        by_uid[str((obj.get("metadata") or {}).get("uid"))] = obj
    referenced: set[str] = set()
    delete: list[Key] = []
    strip: list[tuple[Key, frozenset[str]]] = []
    terminating_ns = {
        str(o["metadata"]["name"])
        for r, o in snapshot
        if r == "namespaces" and (o.get("metadata") or {}).get("deletionTimestamp")
    }
    ns_content: set[str] = set()
    for resource, obj in snapshot:
        meta = obj.get("metadata") or {}
        key = _key(resource, obj)
        if key[1] in terminating_ns:
            ns_content.add(key[1])
            if not meta.get("deletionTimestamp"):
                delete.append(key)
            continue
        refs = [str(ref.get("uid")) for ref in meta.get("ownerReferences") or []]
        if not refs:
            continue
        referenced.update(refs)
        gone = {u for u in refs if u not in by_uid}
        orphaning = {u for u in refs if u in by_uid and _finalizing(by_uid[u], ORPHAN_FINALIZER)}
        foreground = {
            u for u in refs if u in by_uid and _finalizing(by_uid[u], FOREGROUND_FINALIZER)
        }
        owners_leaving = gone | foreground
        if owners_leaving and owners_leaving | orphaning == set(refs) and not orphaning:
            if not meta.get("deletionTimestamp"):
                delete.append(key)
            continue
        if gone | orphaning:
            strip.append((key, frozenset(gone | orphaning)))
    drop: list[tuple[Key, str]] = []
    for resource, obj in snapshot:
        meta = obj.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            continue
        uid = str(meta.get("uid"))
        for finalizer in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER):
            if finalizer in (meta.get("finalizers") or []) and uid not in referenced:
                drop.append((_key(resource, obj), finalizer))
        if resource == "namespaces" and str(meta.get("name")) not in ns_content:
            drop.append((_key(resource, obj), NAMESPACE_FINALIZER))
    return Collection(delete=tuple(delete), strip_owners=tuple(strip), drop_finalizer=tuple(drop))


def _finalizing(obj: Obj, finalizer: str) -> bool:
    meta = obj.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and finalizer in (meta.get("finalizers") or [])


async def collect_once(registry: StoreRegistry) -> bool:
    """One pass: read everything, plan, act. True when it changed anything."""
    snapshot: list[tuple[str, Obj]] = []
    for r in RESOURCES:
        items, _ = await registry.store.list(r.name)
        snapshot += [(r.name, o) for o in items]
    plan = plan_collection(snapshot)
    now = registry.clock()
    changed = False
    for resource, obj in snapshot:
        if resource == "events" and expired(obj, now=now):
            ns, name = _key(resource, obj)[1:]
            await _quietly(registry.delete(resource, ns, name))
    for resource, ns, name in plan.delete:
        changed |= await _quietly(registry.delete(resource, ns, name))
    for (resource, ns, name), uids in plan.strip_owners:
        changed |= await _quietly(_strip(registry, resource, ns, name, uids))
    for (resource, ns, name), finalizer in plan.drop_finalizer:
        changed |= await _quietly(_drop_finalizer(registry, resource, ns, name, finalizer))
    return changed


async def _quietly(work: Any) -> bool:
    try:
        await work
    except NotFound:
        return False
    except APIError as exc:
        log.warning("gc_step_failed", reason=exc.reason, message=exc.message)
        return False
    return True


async def _strip(
    registry: StoreRegistry, resource: str, ns: str, name: str, uids: frozenset[str]
) -> None:
    obj = copy.deepcopy(await registry.get(resource, ns, name))
    meta = obj["metadata"]
    meta["ownerReferences"] = [
        ref for ref in meta.get("ownerReferences") or [] if str(ref.get("uid")) not in uids
    ]
    if not meta["ownerReferences"]:
        del meta["ownerReferences"]
    await registry.update(resource, obj)
    log.info("gc_orphaned", resource=resource, namespace=ns, name=name)


async def _drop_finalizer(
    registry: StoreRegistry, resource: str, ns: str, name: str, finalizer: str
) -> None:
    obj = await registry.get(resource, ns, name)
    meta = obj["metadata"]
    meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != finalizer]
    if not meta["finalizers"]:
        del meta["finalizers"]
    await registry.update(resource, obj)
    log.info("gc_finalized", resource=resource, namespace=ns, name=name, finalizer=finalizer)


def pause_after(pass_seconds: float) -> float:
    """How long a signalled pass waits after the last one: at least COALESCE_SECONDS, and
    long enough that passes take at most 1/(1 + PASS_SHARE_FACTOR) of the event loop. A pass
    reads every object, so with 10,000s of them, one per delete in a 1,000-pod rollout would
    hold the loop most of the time."""
    return max(COALESCE_SECONDS, PASS_SHARE_FACTOR * pass_seconds)


async def run_collector(registry: StoreRegistry, *, resync_seconds: float = 10.0) -> None:
    """Collect garbage whenever the registry signals, and every `resync_seconds`; forever."""
    last_pass = 0.0
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(registry.gc_wakeup.wait(), timeout=resync_seconds)
            await asyncio.sleep(pause_after(last_pass))  # a burst of deletes becomes one pass
        registry.gc_wakeup.clear()
        started = time.monotonic()
        try:
            if await collect_once(registry):
                registry.gc_wakeup.set()
        except Exception:
            log.exception("gc_pass_failed")
        last_pass = time.monotonic() - started
