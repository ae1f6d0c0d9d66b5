"""Figure 12: the server's CPU per request, for the three writes a fleet sends most.

A rollout on 1,000 hosts is about 1,000 pod status PUTs, 2,000 event POSTs and the Leases
renewed meanwhile, and the server's CPU per request bounds how fast it goes (docs/performance.md,
issue 22). One `nodeagent server` process; `nodes` nodes, each with its own node token and
keep-alive connection (as an agent has), each owning a Lease and a pod; every round each node
sends one request of the kind at once. A sample is a few rounds' server CPU (psutil, user +
system) divided by their requests; the kinds take turns, in two passes. Baseline, same run: a
GET of the node's own Lease, the floor of TLS, HTTP, authentication, authorization and audit
with no write.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import cpu_seconds
from bench.report import Figure
from bench.simagents import running_status
from nodeagent.agent.apiclient import ApiClient, resource_path
from nodeagent.agent.reporter import micro_time
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from tests.support.server import ServerProcess, start_server_process

LEASES = "kube-node-lease"
IMAGE = "localhost/busybox:1"


def changed_status(pod: Obj, round_: int) -> Obj:
    """A healthy kubelet's status of `pod` (bench/simagents.py's), its container ID new each
    round, so every PUT is a real write (an unchanged status is answered without one)."""
    status = running_status(pod, now=time.time())
    for container in status["containerStatuses"]:
        container["containerID"] = f"docker://{round_:064x}"
    return status


class Node:
    """One simulated node: its client (node token), Lease and pod, as last written."""

    def __init__(self, name: str, client: ApiClient) -> None:
        self.name, self.client = name, client
        self.lease: Obj = {}
        self.pod: Obj = {}
        self.events = 0

    @property
    def lease_path(self) -> str:
        return resource_path("leases", namespace=LEASES, name=self.name)

    @property
    def pod_path(self) -> str:
        return resource_path("pods", namespace="default", name=f"daemon-{self.name}")

    async def register(self, admin: ApiClient) -> None:
        node: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name}}
        await self.client.create(resource_path("nodes"), node)
        lease: Obj = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": LEASES},
            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40},
        }
        self.lease = await self.client.create(resource_path("leases", namespace=LEASES), lease)
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"daemon-{self.name}", "namespace": "default"},
            "spec": {"nodeName": self.name, "containers": [{"name": "main", "image": IMAGE}]},
        }
        await admin.create(resource_path("pods", namespace="default"), pod)
        self.pod = await self.client.get(self.pod_path)

    async def read_lease(self, _round: int) -> None:
        await self.client.get(self.lease_path)

    async def renew_lease(self, _round: int) -> None:
        self.lease["spec"]["renewTime"] = micro_time(time.time())
        self.lease = await self.client.update(self.lease_path, self.lease)

    async def put_status(self, round_: int) -> None:
        self.pod["status"] = changed_status(self.pod, round_)
        self.pod = await self.client.update(self.pod_path + "/status", self.pod)

    async def post_event(self, _round: int) -> None:
        self.events += 1
        meta = self.pod["metadata"]
        stamp = format_time(time.time())
        event: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{self.events:x}", "namespace": "default"},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": "default",
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "reason": "Started",
            "message": "Started container main",
            "source": {"component": "kubelet", "host": self.name},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": "Normal",
        }
        await self.client.create(resource_path("events", namespace="default"), event)


KINDS: dict[str, Callable[[Node, int], Awaitable[None]]] = {
    "lease_get": Node.read_lease,
    "lease_put": Node.renew_lease,
    "pod_status_put": Node.put_status,
    "event_post": Node.post_event,
}


async def _measure(
    srv: ServerProcess, nodes: int, samples_per_kind: int, rounds: int
) -> dict[str, list[float]]:
    pid = srv.process.pid if srv.process else 0
    admin = ApiClient(server_url=srv.url, token=srv.admin_token, ca_file=str(srv.ca_file))
    fleet = [
        Node(
            name,
            ApiClient(server_url=srv.url, token=srv.node_token(name), ca_file=str(srv.ca_file)),
        )
        for name in (f"cost-{i:05d}" for i in range(nodes))
    ]
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        for node in fleet:
            await node.register(admin)
        counter = 0
        for _pass in range(2):  # kinds alternate: a drift of the machine touches each alike
            for kind, send in KINDS.items():
                for _ in range(samples_per_kind // 2 or 1):
                    before = cpu_seconds(pid)
                    for _ in range(rounds):  # CPU time ticks by 10 ms: many requests a sample
                        counter += 1
                        await asyncio.gather(*(send(node, counter) for node in fleet))
                    samples[kind].append((cpu_seconds(pid) - before) * 1000 / (nodes * rounds))
    finally:
        for node in fleet:
            await node.client.close()
        await admin.close()
    return samples


def run(*, nodes: int = 200, samples: int = 10, rounds: int = 5) -> list[Figure]:
    """`samples` per kind, each `rounds` rounds of one request from every node."""
    with tempfile.TemporaryDirectory(prefix="bench-requestcost-") as tmp:
        srv = start_server_process(Path(tmp) / "server", "--log-level", "warning")
        try:
            measured = asyncio.run(_measure(srv, nodes, samples, rounds))
        finally:
            srv.stop()
    floor = tuple(measured.pop("lease_get"))
    return [
        Figure(
            name=f"requestcost.{kind}",
            unit="ms CPU",
            samples=tuple(values),
            baseline_name="a node's GET of its own Lease",
            baseline=floor,
            target="about 0.3 ms (a third of today's) for 1,000 hosts' rollout in 1 s",
        )
        for kind, values in measured.items()
    ]
