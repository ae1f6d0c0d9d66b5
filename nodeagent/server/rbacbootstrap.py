"""Makes and reconciles the default RBAC policy at server start, as kube-apiserver's
rbac/bootstrap-roles post-start hook does (bootstrappolicy.py holds the objects).

A missing default is created. An existing one is left alone unless it carries the annotation
rbac.authorization.kubernetes.io/autoupdate: "true" (the defaults are made with it); then
missing rules (or aggregation selectors), labels, annotations and subjects are added back,
and what a user added is kept. A binding whose roleRef was changed (only possible by
delete and recreate) is recreated with the default's. Every server of a cluster runs it;
a conflict with another server's write is retried.
"""

from __future__ import annotations

import contextlib

import structlog

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import AlreadyExists, Conflict, NotFound
from nodeagent.api.meta import name_of
from nodeagent.server.bootstrappolicy import AUTOUPDATE, CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES
from nodeagent.server.rbac import Rule
from nodeagent.server.rbacescalation import uncovered
from nodeagent.server.registry import StoreRegistry

log = structlog.get_logger()
ATTEMPTS = 5


def _autoupdate(obj: Obj) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(AUTOUPDATE) == "true"


def _merged_meta(existing: Obj, default: Obj) -> Obj:
    meta, wanted = dict(existing.get("metadata") or {}), default["metadata"]
    for key in ("labels", "annotations"):
        meta[key] = {**wanted.get(key, {}), **(meta.get(key) or {})}
    return meta


def reconciled_role(existing: Obj, default: Obj) -> Obj | None:
    """The ClusterRole with what the default has and it lacks; None when nothing is missing
    or the user turned autoupdate off."""
    if not _autoupdate(existing):
        return None
    out = {**existing, "metadata": _merged_meta(existing, default)}
    if "aggregationRule" in default:
        have = (existing.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
        want = default["aggregationRule"]["clusterRoleSelectors"]
        out["aggregationRule"] = {"clusterRoleSelectors": have + [s for s in want if s not in have]}
    else:
        held = [Rule.of(r) for r in existing.get("rules") or []]
        missing = [r for r in default["rules"] if uncovered(held, [Rule.of(r)])]
        out["rules"] = (existing.get("rules") or []) + missing
    return None if out == existing else out


def reconciled_binding(existing: Obj, default: Obj) -> Obj | None:
    """The binding with the default's subjects it lacks; None when nothing is missing."""
    if not _autoupdate(existing):
        return None
    have = existing.get("subjects") or []
    out = {
        **existing,
        "metadata": _merged_meta(existing, default),
        "subjects": have + [s for s in default["subjects"] if s not in have],
    }
    return None if out == existing else out


async def _ensure(registry: StoreRegistry, resource: str, default: Obj) -> None:
    name = name_of(default)
    for _attempt in range(ATTEMPTS):
        try:
            existing = await registry.get(resource, "", name)
        except NotFound:
            try:
                await registry.create(resource, default)
                log.info("rbac_default_created", resource=resource, name=name)
                return
            except AlreadyExists:
                continue
        if resource == "clusterrolebindings" and existing.get("roleRef") != default["roleRef"]:
            if not _autoupdate(existing):
                return
            with contextlib.suppress(NotFound):  # roleRef is immutable: recreate
                await registry.delete(resource, "", name)
            continue
        wanted = (
            reconciled_binding(existing, default)
            if resource == "clusterrolebindings"
            else reconciled_role(existing, default)
        )
        if wanted is None:
            return
        try:
            await registry.update(resource, wanted)
            log.info("rbac_default_reconciled", resource=resource, name=name)
            return
        except (Conflict, NotFound):
            continue
    log.warning("rbac_default_not_reconciled", resource=resource, name=name)


async def ensure_default_policy(registry: StoreRegistry) -> None:
    """Create or reconcile every default ClusterRole and ClusterRoleBinding."""
    for role in CLUSTER_ROLES:
        await _ensure(registry, "clusterroles", role)
    for binding in CLUSTER_ROLE_BINDINGS:
        await _ensure(registry, "clusterrolebindings", binding)
