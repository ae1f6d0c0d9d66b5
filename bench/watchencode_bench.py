"""Encode once (issue 22, lever 3): the server's CPU to fan a pod change out to its watchers,
each change's event line encoded once for all of them (store/sharedchange.py), against the
path before, where each watcher decoded the stored text and encoded its own line.

In process, the real code from the watch window on: a WatchCache (what either store feeds on
each commit), the Registry's watch (selectors) and the stream writer of rest/watch.py
(`_follow`), writing into a sink that counts the lines. Watchers: one agent watch per node
(`fieldSelector=spec.nodeName=...`, as every agent holds) plus `watchers` all-pods watches
(a `kubectl get pods -A -w`, the fan-out bench's follower). Each round publishes `events`
changes of a ~3 KB pod (MODIFIED, one per node in turn) at once, then waits until every
watcher has written every line, and takes the process's CPU seconds for it. Figure: CPU per
change delivered to all its watchers (us); baseline: the same with the per-watcher path, same
run, the two alternating round by round. Not measured here: TLS and the socket write, which
both paths pay alike per watcher.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import cast

from aiohttp import web

from bench.report import Figure
from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.resources import BY_NAME
from nodeagent.server.main import GC_THRESHOLDS
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.rest import watch
from nodeagent.server.rest.request import Call, Target
from nodeagent.server.store.protocol import Store, WatchEvent
from nodeagent.server.store.watchcache import WatchCache


def _pod(i: int, node: str, rv: int) -> Obj:
    """A DaemonSet pod as an agent reports it: ~3 KB of JSON."""
    name = f"fan-{i:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"0c7d5e1a-{i:04d}-4b53-9a3e-5f1b2c3d4e5f",
            "resourceVersion": str(rv),
            "generateName": "fan-",
            "creationTimestamp": "2026-12-07T20:00:00Z",
            "labels": {"app": "fan", "controller-revision-hash": "6d8f7c9b5", "pod-gen": "1"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "fan",
                    "uid": "5d1e2f3a-0000-4b53-9a3e-5f1b2c3d4e5f",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "serviceAccountName": "default",
            "tolerations": [
                {"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute"}
                for t in ("not-ready", "unreachable", "disk-pressure", "memory-pressure")
            ],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": [node]}
                                ]
                            }
                        ]
                    }
                }
            },
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/fan/main:1.27.3",
                    "args": ["--listen=:8080", "--log-level=info"],
                    "env": [{"name": f"VAR_{k}", "value": f"value-{k}"} for k in range(6)],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "volumeMounts": [
                        {
                            "name": "kube-api-access",
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                            "readOnly": True,
                        }
                    ],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": "10.0.0.1",
            "podIP": "10.0.0.1",
            "startTime": "2026-12-07T20:00:01Z",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2026-12-07T20:00:02Z"}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": 0,
                    "image": "registry.example/fan/main:1.27.3",
                    "imageID": "sha256:" + "ab" * 32,
                    "containerID": "containerd://" + "cd" * 32,
                    "state": {"running": {"startedAt": f"2026-12-07T20:00:{rv % 60:02d}Z"}},
                }
            ],
        },
    }


class _Window:
    """The Store's watch, and its version, over a bare WatchCache (what the Registry's watch
    reads); the bench publishes into the cache as a store does on each commit."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache
        self.resource_version = 0

    def watch(
        self,
        resource: str,
        *,
        since: int,
        namespace: str | None = None,
        node_name: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        return self.cache.watch(resource, since=since, namespace=namespace, node_name=node_name)


class _Sink:
    """A watch response that counts what it is given."""

    def __init__(self, counter: _Counter) -> None:
        self.counter = counter

    async def write(self, data: bytes) -> None:
        self.counter.add(len(data))


class _Counter:
    def __init__(self) -> None:
        self.lines = 0
        self.bytes = 0
        self.target = 0
        self.reached = asyncio.Event()

    def add(self, size: int) -> None:
        self.lines += 1
        self.bytes += size
        if self.lines >= self.target:
            self.reached.set()


class _PerWatcherStream(watch._Stream):
    """The path before encode-once: the watcher decodes the stored text (the object, and
    the previous object, which the window decoded for every watcher) and encodes its line."""

    async def send_event(self, ev: WatchEvent) -> None:
        ev.prev_object  # noqa: B018 - decoded per watcher before, as the object was
        await self.send(ev.type, ev.object)


async def _measure(*, nodes: int, watchers: int, events: int, rounds: int) -> list[Figure]:
    cache = WatchCache(capacity=max(10_000, 4 * events), start=0)
    window = _Window(cache)
    registry = StoreRegistry(cast(Store, window))
    pods = BY_NAME["pods"]
    call = Call(target=Target(resource=pods, item=False), verb="watch", namespace="", name="")
    counter = _Counter()
    shared_mode = [True]

    async def follow(field_selector: str | None) -> None:
        events_ = registry.watch("pods", resource_version=0, field_selector=field_selector)
        response = cast(web.StreamResponse, _Sink(counter))
        fresh = watch._Stream(response, call, table=False, include_object="Object")
        old = _PerWatcherStream(response, call, table=False, include_object="Object")
        async for ev in events_:
            await (fresh if shared_mode[0] else old).send_event(ev)

    tasks = [asyncio.create_task(follow(f"spec.nodeName=node-{n}")) for n in range(nodes)]
    tasks += [asyncio.create_task(follow(None)) for _ in range(watchers)]
    while cache.watcher_count < nodes + watchers:
        await asyncio.sleep(0.01)
    texts: dict[int, str] = {}
    rv = 0
    shared_us: list[float] = []
    per_watcher_us: list[float] = []
    try:
        for round_ in range(2 * rounds):
            shared_mode[0] = round_ % 2 == 0
            batch = []
            for k in range(events):
                rv += 1
                i = (round_ * events + k) % nodes
                text = jsontext.dumps(_pod(i, f"node-{i}", rv))
                batch.append((rv, text, texts.get(i), f"node-{i}"))
                texts[i] = text
            counter.target = counter.lines + events * (1 + watchers)
            counter.reached.clear()
            gc.collect()  # each round starts with the same heap, whatever the last one left
            cpu0 = time.process_time()
            for version, text, prev, node in batch:
                cache.publish(
                    resource="pods",
                    namespace="default",
                    type="MODIFIED" if prev is not None else "ADDED",
                    resource_version=version,
                    text=text,
                    prev_text=prev,
                    node=node,
                    prev_node=node if prev is not None else "",
                )
            window.resource_version = rv
            await counter.reached.wait()
            cpu_us = (time.process_time() - cpu0) / events * 1e6
            (shared_us if shared_mode[0] else per_watcher_us).append(cpu_us)
    finally:
        cache.close()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [
        Figure(
            name=f"watchencode.{nodes}_nodes_{watchers}_all_pods_watches.cpu_per_change",
            unit="us",
            samples=tuple(shared_us),
            baseline_name="each watcher decodes and encodes its own line (before)",
            baseline=tuple(per_watcher_us),
            target="the encode paid once per change, not once per watcher",
        )
    ]


def run(
    *, nodes: int = 1000, watchers: tuple[int, ...] = (1, 10), events: int = 1000, rounds: int = 10
) -> list[Figure]:
    figures: list[Figure] = []
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)  # the server's collector settings
    try:
        for w in watchers:
            before = os.getloadavg()[0]
            figures += asyncio.run(_measure(nodes=nodes, watchers=w, events=events, rounds=rounds))
            print(
                f"watchencode: {nodes} agent watches + {w} all-pods watch(es), {events} changes"
                f" x {rounds} rounds each way; load average {before:.1f} ->"
                f" {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
            )
    finally:
        gc.set_threshold(*thresholds)
    return figures
