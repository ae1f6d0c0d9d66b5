"""Runs every controller of the control plane as a named task in one TaskGroup.

Wiring only: the server's main calls run_controllers(registry) and cancels it on shutdown (or
when this server loses the controllers' Lease). The queued controllers' workqueue metrics go to
`queue_metrics` (the server's /metrics), named as kube-controller-manager's queues.
The controllers: DaemonSet, node lifecycle, pod GC, the root CA publisher, serviceaccounts,
tokens, ClusterRole aggregation (cascading deletes are server/cascade.py's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from nodeagent.server.controllers.clusterroleaggregation import ClusterRoleAggregationController
from nodeagent.server.controllers.daemonset.controller import DaemonSetController
from nodeagent.server.controllers.daemonset.prometheus import PrometheusClient
from nodeagent.server.controllers.nodelifecycle import NodeLifecycleController
from nodeagent.server.controllers.podgc import PodGCController
from nodeagent.server.controllers.podgcplan import QUARANTINE_SECONDS
from nodeagent.server.controllers.queuemetrics import MetricsProvider
from nodeagent.server.controllers.rootcapublisher import RootCAPublisher
from nodeagent.server.controllers.serviceaccounts import ServiceAccountsController
from nodeagent.server.controllers.tokens import IssueToken, TokensController
from nodeagent.server.events import EventRecorder
from nodeagent.server.registry_protocol import Registry

log = structlog.get_logger()


async def run_controllers(
    registry: Registry,
    *,
    node_monitor_grace_seconds: float = 40.0,
    clock: Callable[[], float] = time.time,
    pod_gc_quarantine_seconds: float | None = None,
    node_monitor_period_seconds: float | None = None,
    root_ca_pem: str | None = None,
    prometheus_url: str = "",
    queue_metrics: MetricsProvider | None = None,
    issue_token: IssueToken | None = None,
) -> None:
    """Run the DaemonSet, node-lifecycle, pod-GC and serviceaccounts controllers until
    cancelled; the tokens controller too when given `issue_token` (the signer of token
    Secrets' tokens).

    The pod-GC quarantine defaults to 40 s, or the node grace when that is shorter; the node
    monitor period to 5 s, or a quarter of the grace when that is shorter.
    """
    grace = node_monitor_grace_seconds
    quarantine = (
        min(QUARANTINE_SECONDS, grace)
        if pod_gc_quarantine_seconds is None
        else pod_gc_quarantine_seconds
    )
    period = (
        min(5.0, max(0.25, grace / 4))
        if node_monitor_period_seconds is None
        else node_monitor_period_seconds
    )
    daemonsets = DaemonSetController(
        registry=registry,
        record_event=EventRecorder(),
        clock=clock,
        metrics=PrometheusClient(url=prometheus_url) if prometheus_url else None,
        queue_metrics=queue_metrics,
    )
    lifecycle = NodeLifecycleController(
        registry=registry, grace=grace, period=period, clock=clock, nodes=daemonsets.nodes
    )
    podgc = PodGCController(
        registry=registry,
        quarantine=quarantine,
        period=period,
        clock=clock,
        nodes=daemonsets.nodes,
        pods=daemonsets.pods,
    )
    log.info("controllers_starting", node_monitor_grace=grace, pod_gc_quarantine=quarantine)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(daemonsets.run(), name="daemonset-controller")
        tg.create_task(lifecycle.run(), name="node-lifecycle-controller")
        tg.create_task(podgc.run(), name="pod-gc-controller")
        if root_ca_pem is not None:  # the CA pods' ca.crt holds (kube-root-ca.crt)
            publisher = RootCAPublisher(
                registry=registry, ca_pem=root_ca_pem, queue_metrics=queue_metrics
            )
            tg.create_task(publisher.run(), name="root-ca-publisher")
        tg.create_task(
            ServiceAccountsController(registry=registry, queue_metrics=queue_metrics).run(),
            name="serviceaccounts-controller",
        )
        tg.create_task(
            ClusterRoleAggregationController(registry).run(), name="clusterrole-aggregation"
        )
        if issue_token is not None:
            tokens = TokensController(
                registry=registry,
                issue_token=issue_token,
                ca_pem=root_ca_pem or "",
                queue_metrics=queue_metrics,
            )
            tg.create_task(tokens.run(), name="tokens-controller")
