"""Many lightweight simulated agents in one process, on raw aiohttp, for the capacity figure.

Each one enrols (join secret, its own node password) for its node token, registers its Node and
Lease with it, holds its pod watch (`fieldSelector=spec.nodeName=NAME`), and every `interval` s
(first one at a random offset) renews its lease, patching its node status (Ready heartbeat)
too every `status-interval` s (300: the agent's nodeStatusReportFrequency, as kubelet's; 10:
the agent before issue 22).
Every failure is counted, never fatal. Run as `python -m bench.simwatchers --server URL
--ca-file F --secret-file F --first I --count N`; on SIGTERM it prints one JSON line of
counts and exits (and, with --lease-times-file, each lease renewal's time and latency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import ssl
import time
from collections import Counter

import aiohttp

from bench.common import enrol
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time

MERGE = {"Content-Type": "application/merge-patch+json"}


def _micro(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


class Sim:
    def __init__(self, args: argparse.Namespace, session: aiohttp.ClientSession) -> None:
        self.args = args
        self.session = session
        self.secret = open(args.secret_file).read().strip()  # noqa: SIM115
        self.counts: Counter[str] = Counter()
        self.ssl = ssl.create_default_context(cafile=args.ca_file)
        self.gate = asyncio.Semaphore(args.concurrency)
        self.tokens: dict[str, str] = {}  # node -> its bearer token, from enrolment
        self.lease_times: list[tuple[float, float]] = []  # (wall time, ms) per lease renewal

    async def enrol(self, node: str) -> None:
        async with self.gate:
            self.tokens[node] = await enrol(
                self.session,
                server=self.args.server,
                join_secret=self.secret,
                node=node,
                ssl=self.ssl,
            )

    def token(self, node: str) -> str:
        return self.tokens.get(node, "")

    async def call(self, node: str, method: str, path: str, body: Obj, **headers: str) -> int:
        hdrs = {"Authorization": f"Bearer {self.token(node)}", **headers}
        async with (
            self.gate,
            self.session.request(
                method, self.args.server + path, json=body, headers=hdrs, ssl=self.ssl
            ) as resp,
        ):
            await resp.read()
            return resp.status

    async def register(self, node: str) -> None:
        now = time.time()
        body: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}
        status = await self.call(node, "POST", "/api/v1/nodes", body)
        lease: Obj = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": node, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": _micro(now)},
        }
        lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        lease_status = await self.call(node, "POST", lease_path, lease)
        ok = status in (201, 409) and lease_status in (201, 409)
        self.counts["registered" if ok else "register_failed"] += 1

    async def heartbeat(self, node: str, *, status_too: bool) -> None:
        now = time.time()
        if status_too:
            await self.node_status(node, now)
        lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
        t0 = time.perf_counter()
        status = await self.call(
            node, "PATCH", lease_path, {"spec": {"renewTime": _micro(now)}}, **MERGE
        )
        if status == 200:
            self.lease_times.append((time.time(), (time.perf_counter() - t0) * 1000))
        self.counts["lease_ok" if status == 200 else f"lease_{status}"] += 1

    async def node_status(self, node: str, now: float) -> None:
        cond = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "simulated",
            "lastHeartbeatTime": format_time(now),
            "lastTransitionTime": format_time(now),
        }
        status = await self.call(
            node,
            "PATCH",
            f"/api/v1/nodes/{node}/status",
            {"status": {"conditions": [cond]}},
            **MERGE,
        )
        self.counts["status_ok" if status == 200 else f"status_{status}"] += 1

    async def watch(self, node: str) -> None:
        token = self.token(node)
        params = {"fieldSelector": f"spec.nodeName={node}", "watch": "true"}
        while True:
            try:
                async with self.session.get(
                    self.args.server + "/api/v1/pods",
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                    ssl=self.ssl,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=60),
                ) as resp:
                    if resp.status != 200:
                        self.counts[f"watch_{resp.status}"] += 1
                        await asyncio.sleep(5)
                        continue
                    self.counts["watching"] += 1
                    try:
                        async for _line in resp.content:
                            self.counts["watch_events"] += 1
                    finally:
                        self.counts["watching"] -= 1
            except (aiohttp.ClientError, OSError, TimeoutError):
                self.counts["watch_errors"] += 1
                await asyncio.sleep(5)

    async def agent(self, node: str) -> None:
        try:
            await self.enrol(node)
            await self.register(node)
        except (aiohttp.ClientError, OSError, TimeoutError, RuntimeError):
            self.counts["register_failed"] += 1
        asyncio.create_task(self.watch(node))  # noqa: RUF006 (cancelled with the loop)
        await asyncio.sleep(random.uniform(0, self.args.interval))
        status_due = time.monotonic() + random.uniform(0, self.args.status_interval)
        while True:
            t0 = time.monotonic()
            status_too = t0 >= status_due
            if status_too:
                status_due = t0 + self.args.status_interval
            try:
                await self.heartbeat(node, status_too=status_too)
            except (aiohttp.ClientError, OSError, TimeoutError):
                self.counts["heartbeat_errors"] += 1
            await asyncio.sleep(max(0.0, self.args.interval - (time.monotonic() - t0)))


async def run_sims(args: argparse.Namespace) -> Counter[str]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        sim = Sim(args, session)
        tasks = [
            asyncio.create_task(sim.agent(f"{args.prefix}-{i:05d}"))
            for i in range(args.first, args.first + args.count)
        ]
        await stop.wait()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    if args.lease_times_file:
        with open(args.lease_times_file, "w") as f:
            json.dump(sim.lease_times, f)
    return sim.counts


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.simwatchers", description=__doc__)
    p.add_argument("--server", required=True)
    p.add_argument("--ca-file", required=True)
    p.add_argument("--secret-file", required=True)
    p.add_argument("--prefix", default="cap")
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--interval", type=float, default=10.0, help="lease renewed every")
    p.add_argument(
        "--status-interval", type=float, default=300.0, help="unchanged node status sent every"
    )
    p.add_argument(
        "--lease-times-file", help="at exit, write [wall time, ms] of each lease renewal here"
    )
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight at most")
    args = p.parse_args()
    counts = asyncio.run(run_sims(args))
    print(json.dumps(dict(counts)), flush=True)


if __name__ == "__main__":
    main()
