"""The serviceaccounts controller: every active namespace has a ServiceAccount `default`.

As kube-controller-manager's (pkg/controller/serviceaccount/serviceaccounts_controller.go):
a namespace added or updated, or a `default` ServiceAccount deleted, queues the namespace;
the sync makes `default` when the namespace is active and has none. `missing_defaults` is
the PURE decision; the registry also makes `default` with each new namespace (registry.py),
so this controller is what covers namespaces from before, and a deleted `default`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from nodeagent.api import meta, serviceaccounts
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import AlreadyExists, Forbidden, NotFound
from nodeagent.server import saadmission
from nodeagent.server.controllers.queuemetrics import MetricsProvider
from nodeagent.server.controllers.workqueue import (
    Informer,
    WorkQueue,
    process_forever,
    report_unfinished_work,
)
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()
QUEUE_NAME = "serviceaccount"  # kube-controller-manager's: the `name` of its workqueue metrics


def missing_defaults(namespaces: Iterable[Obj], accounts: Iterable[Obj]) -> list[str]:
    """The active namespaces that have no ServiceAccount `default`, sorted."""
    have = {
        meta.namespace_of(a) for a in accounts if meta.name_of(a) == serviceaccounts.DEFAULT_NAME
    }
    return sorted(
        meta.name_of(ns)
        for ns in namespaces
        if meta.name_of(ns) not in have
        and not (ns.get("metadata") or {}).get("deletionTimestamp")
        and (ns.get("status") or {}).get("phase") != "Terminating"
    )


@dataclass(slots=True, kw_only=True)
class ServiceAccountsController:
    registry: Registry
    namespaces: Informer | None = None
    accounts: Informer | None = None
    queue_metrics: MetricsProvider | None = None  # the server's workqueue metrics
    queue: WorkQueue[str] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = WorkQueue(name=QUEUE_NAME, metrics=self.queue_metrics)

    async def run(self) -> None:
        namespaces = self.namespaces or Informer(registry=self.registry, resource="namespaces")
        accounts = self.accounts or Informer(registry=self.registry, resource="serviceaccounts")
        self.namespaces, self.accounts = namespaces, accounts

        def namespace_changed(_old: Obj | None, new: Obj | None) -> None:
            if new is not None:
                self.queue.add(meta.name_of(new))

        def account_changed(old: Obj | None, new: Obj | None) -> None:
            if new is None and old is not None and meta.name_of(old) == "default":
                self.queue.add(meta.namespace_of(old))

        namespaces.add_handler(namespace_changed)
        accounts.add_handler(account_changed)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(report_unfinished_work(self.queue), name="serviceaccounts-queue-metrics")
            tg.create_task(namespaces.run(), name="serviceaccounts-namespaces-informer")
            tg.create_task(accounts.run(), name="serviceaccounts-informer")
            await namespaces.synced.wait()
            await accounts.synced.wait()
            tg.create_task(
                process_forever(self.queue, self.sync, retry="serviceaccounts_sync_retry"),
                name="serviceaccounts-worker",
            )

    async def sync(self, namespace: str) -> None:
        if self.namespaces is None or self.accounts is None:
            return  # not running yet
        ns = self.namespaces.get("", namespace)
        accounts = self.accounts.list(namespace)
        if ns is None or not missing_defaults([ns], accounts):
            return
        with contextlib.suppress(AlreadyExists, NotFound, Forbidden):  # made, gone, ending
            await self.registry.create(
                "serviceaccounts", saadmission.default_account(namespace), namespace=namespace
            )
            log.info("service_account_created", namespace=namespace, name="default")
