"""The root CA publisher: a ConfigMap `kube-root-ca.crt` in every namespace, holding the CA that
verifies the server's serving certificate (what pods' `ca.crt` is).

As kube-controller-manager's root-ca-cert-publisher
(pkg/controller/certificates/rootcacertpublisher): a namespace added or updated, or its
`kube-root-ca.crt` changed or deleted, queues the namespace; the sync creates the ConfigMap,
or puts back its `ca.crt` and description annotation when they differ. `wanted_configmap` and
`needs_update` decide (pure functions).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import AlreadyExists, Conflict, Forbidden, NotFound
from nodeagent.server.controllers.queuemetrics import MetricsProvider
from nodeagent.server.controllers.workqueue import (
    Informer,
    WorkQueue,
    process_forever,
    report_unfinished_work,
)
from nodeagent.server.registry_protocol import Registry
from nodeagent.server.tokenvolume import ROOT_CA_CONFIGMAP

log = structlog.get_logger()
QUEUE_NAME = "root_ca_cert_publisher"  # kube-controller-manager's: its workqueue metrics' `name`

DESCRIPTION_KEY = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


def wanted_configmap(namespace: str, ca_pem: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ROOT_CA_CONFIGMAP,
            "namespace": namespace,
            "annotations": {DESCRIPTION_KEY: DESCRIPTION},
        },
        "data": {"ca.crt": ca_pem},
    }


def needs_update(existing: Obj, ca_pem: str) -> bool:
    """The ConfigMap's data is not exactly {ca.crt} or its description annotation differs."""
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    return existing.get("data") != {"ca.crt": ca_pem} or (
        annotations.get(DESCRIPTION_KEY) != DESCRIPTION
    )


def _active(namespace: Obj | None) -> bool:
    return (
        namespace is not None
        and not (namespace.get("metadata") or {}).get("deletionTimestamp")
        and (namespace.get("status") or {}).get("phase") != "Terminating"
    )


class RootCAPublisher:
    def __init__(
        self, *, registry: Registry, ca_pem: str, queue_metrics: MetricsProvider | None = None
    ) -> None:
        self.registry = registry
        self.ca_pem = ca_pem
        self.namespaces = Informer(registry=registry, resource="namespaces")
        self.configmaps = Informer(registry=registry, resource="configmaps")
        self.queue: WorkQueue[str] = WorkQueue(name=QUEUE_NAME, metrics=queue_metrics)

    async def run(self) -> None:
        def namespace_changed(_old: Obj | None, new: Obj | None) -> None:
            if new is not None:
                self.queue.add(meta.name_of(new))

        def configmap_changed(old: Obj | None, new: Obj | None) -> None:
            obj = new if new is not None else old
            if obj is not None and meta.name_of(obj) == ROOT_CA_CONFIGMAP:
                self.queue.add(meta.namespace_of(obj))

        self.namespaces.add_handler(namespace_changed)
        self.configmaps.add_handler(configmap_changed)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(report_unfinished_work(self.queue), name="root-ca-queue-metrics")
            tg.create_task(self.namespaces.run(), name="root-ca-namespaces-informer")
            tg.create_task(self.configmaps.run(), name="root-ca-configmaps-informer")
            await self.namespaces.synced.wait()
            await self.configmaps.synced.wait()
            tg.create_task(
                process_forever(self.queue, self.sync, retry="root_ca_publish_retry"),
                name="root-ca-publisher-worker",
            )

    async def sync(self, namespace: str) -> None:
        if not _active(self.namespaces.get("", namespace)):
            return
        existing = self.configmaps.get(namespace, ROOT_CA_CONFIGMAP)
        wanted = wanted_configmap(namespace, self.ca_pem)
        if existing is None:
            with contextlib.suppress(AlreadyExists, NotFound, Forbidden):  # made, gone, ending
                await self.registry.create("configmaps", wanted, namespace=namespace)
                log.info("root_ca_published", namespace=namespace)
            return
        if not needs_update(existing, self.ca_pem):
            return
        updated = {**existing, "data": wanted["data"]}
        updated["metadata"] = {
            **(existing.get("metadata") or {}),
            "annotations": {
                **((existing.get("metadata") or {}).get("annotations") or {}),
                DESCRIPTION_KEY: DESCRIPTION,
            },
        }
        with contextlib.suppress(NotFound, Conflict):  # gone, or changed: queued again
            await self.registry.update("configmaps", updated)
            log.info("root_ca_republished", namespace=namespace)
