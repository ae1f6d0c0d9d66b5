"""Figure 9: the steady write rate of an idle fleet, heartbeats as kubelet's since node leases.

N simulated agents (bench/simagents.py: the agent's real server sync) register with a server
process and sit idle; after `settle` seconds the server's answered writes (POST, PUT, PATCH,
DELETE in its /metrics) are counted every 5 s for `seconds`. The figure: the
agent's defaults (Lease every 10 s, an unchanged node status every 300 s: kubelet's
nodeStatusReportFrequency). Baseline, same run, a fresh server: the agents sending their
unchanged status every 10 s, as the agent did before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import poll
from bench.fanout_bench import server_requests
from bench.report import Figure
from nodeagent.agent.apiclient import ApiClient, resource_path
from tests.support.server import ServerProcess, start_server_process

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE"})


async def _writes(admin: ApiClient) -> int:
    counts = await server_requests(admin)
    return sum(n for key, n in counts.items() if key.split(" ")[0].upper() in WRITE_VERBS)


async def _rates(
    srv: ServerProcess, agents: int, *, settle: float, seconds: float, every: float
) -> list[float]:
    admin = ApiClient(
        server_url=srv.url, token=srv.admin_token, ca_file=str(srv.ca_file), timeout=60
    )
    try:

        async def registered() -> bool:
            items = (await admin.list(resource_path("nodes"))).get("items") or []
            return len(items) >= agents

        await poll(registered, timeout=300, interval=0.5, what=f"{agents} nodes registered")
        await asyncio.sleep(settle)
        rates: list[float] = []
        before, t0 = await _writes(admin), time.monotonic()
        end = t0 + seconds
        while t0 < end:
            await asyncio.sleep(every)
            after, t1 = await _writes(admin), time.monotonic()
            rates.append((after - before) / (t1 - t0))
            before, t0 = after, t1
        return rates
    finally:
        await admin.close()


def _pass(
    agents: int, per_process: int, *, report_frequency: float, settle: float, seconds: float
) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-heartbeat-", ignore_cleanup_errors=True) as tmp:
        base = Path(tmp)
        srv = start_server_process(base / "server", "--log-level", "warning")
        token_file = base / "join-secret"
        token_file.write_text(srv.join_secret)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            for first in range(0, agents, per_process):
                argv = [sys.executable, "-m", "bench.simagents", "--server", srv.url]
                argv += ["--ca-file", str(srv.ca_file), "--token-file", str(token_file)]
                argv += ["--state-dir", str(base / "agents"), "--prefix", "hb"]
                argv += ["--first", str(first), "--count", str(min(per_process, agents - first))]
                argv += ["--status-interval", str(report_frequency)]
                workers.append(subprocess.Popen(argv))
            every = min(5.0, seconds)
            return asyncio.run(_rates(srv, agents, settle=settle, seconds=seconds, every=every))
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                try:
                    w.wait(30)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
            with contextlib.suppress(Exception):
                srv.stop()


def run(
    *,
    agents: tuple[int, ...] = (500,),
    per_process: int = 500,
    settle: float = 12.0,
    seconds: float = 20.0,
) -> list[Figure]:
    """`settle`: idle time after every node registered, before counting (longer than the
    lease and the old status interval, so registration's burst is over)."""
    figures = []
    for n in agents:
        load = os.getloadavg()[0]
        before = _pass(n, per_process, report_frequency=10.0, settle=settle, seconds=seconds)
        after = _pass(n, per_process, report_frequency=300.0, settle=settle, seconds=seconds)
        print(
            f"heartbeat: {n} agents, load average {load:.1f} at the start,"
            f" {os.getloadavg()[0]:.1f} at the end",
            file=sys.stderr,
        )
        figures.append(
            Figure(
                name=f"heartbeat.{n}_agents.idle_writes_per_second",
                unit="/s",
                samples=tuple(after),
                baseline_name="node status every 10 s (the agent before), fresh server",
                baseline=tuple(before),
                target="about half the writes of a status every 10 s (issue 22)",
            )
        )
    return figures
