"""Issue 22, "more than one process": the capacity workload against one `nodeagent server`
over etcd, then against two servers over the same etcd with the agents split between them.

Same run, same machine, a fresh etcd (Debian's) for each: (a) one server process, `--store
etcd://...`; (b) two, the second with the first's CA and tokens (docs/operations.md "Several
servers on one etcd"), only one of them running the controllers (elected). The simulated
agents are the capacity bench's (bench/simwatchers.py: enrol, Node, Lease, a pod watch, the
lease renewed every `lease_interval` s (10, kubelet's; the smoke run renews faster so its short
window holds renewals), node status every `status_interval` s), `per_process` to a process;
in (b) the processes alternate between the two servers. Once every pod watch is open, for
`seconds`: every lease renewal's latency (from the agents), the pod status probe of the
capacity bench (GET, then the timed PUT /status; in (b) alternating between the servers), the
writes (PATCH/PUT) all servers answered per second, and the RSS and CPU of the servers (summed)
and of etcd. Each figure of (b) has (a)'s as its baseline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.capacity_bench import PREFIX, _probe, _setup, _watchers, _writes_answered
from bench.common import Usage, sample_process
from bench.report import Figure
from nodeagent.agent.apiclient import ApiClient
from tests.support.etcd import EtcdProcess
from tests.support.server import ServerProcess, start_server_process

SHARED_FILES = ("ca.crt", "ca.key", "admin-token", "node-token")


@dataclass(frozen=True)
class Workload:
    """One size of the run: the agents, how they are spread and how often they write."""

    agents: int
    per_process: int
    seconds: float  # the measuring window
    status_interval: float
    lease_interval: float


def _start_servers(base: Path, etcd: EtcdProcess, count: int) -> list[ServerProcess]:
    store = f"--store=etcd://{etcd.endpoint}"
    first = start_server_process(base / "s1", store, "--log-level", "warning")
    servers = [first]
    for k in range(2, count + 1):
        data = base / f"s{k}"
        data.mkdir(mode=0o700)
        for name in SHARED_FILES:
            shutil.copy2(first.data_dir / name, data / name)
        servers.append(start_server_process(data, store, "--log-level", "warning"))
    return servers


def _start_workers(
    servers: list[ServerProcess],
    base: Path,
    load: Workload,
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    secret = base / "join-secret"
    secret.write_text(servers[0].join_secret)
    workers = []
    agents, per_process = load.agents, load.per_process
    for k, first in enumerate(range(0, agents, per_process)):
        srv = servers[k % len(servers)]
        times = base / f"lease-times-{k}.json"
        argv = [sys.executable, "-m", "bench.simwatchers", "--server", srv.url]
        argv += ["--ca-file", str(srv.ca_file), "--secret-file", str(secret), "--prefix", PREFIX]
        argv += ["--first", str(first), "--count", str(min(per_process, agents - first))]
        argv += ["--status-interval", str(load.status_interval), "--lease-times-file", str(times)]
        argv += ["--interval", str(load.lease_interval)]
        workers.append((subprocess.Popen(argv, stdout=subprocess.PIPE), times))
    return workers


def _stop_workers(workers: list[tuple[subprocess.Popen[bytes], Path]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    lease_times: list[tuple[float, float]] = []
    for w, _ in workers:
        w.terminate()
    for w, times in workers:
        try:
            stdout, _ = w.communicate(timeout=60)
            for k, v in json.loads(stdout or b"{}").items():
                counts[k] = counts.get(k, 0) + v
            lease_times += [(float(t), float(ms)) for t, ms in json.loads(times.read_text())]
        except (subprocess.TimeoutExpired, ValueError, OSError):
            w.kill()
            w.wait()
    return {"counts": counts, "lease_times": lease_times}


async def _window(
    admins: list[ApiClient], pids: list[int], etcd_pid: int, seconds: float
) -> dict[str, Any]:
    out: dict[str, list[float]] = {"list": [], "status": [], "read_modify_write": [], "errors": []}
    loop = asyncio.get_running_loop()
    writes0 = sum([await _writes_answered(a) for a in admins])
    t0, wall0 = time.monotonic(), time.time()
    with concurrent.futures.ThreadPoolExecutor(len(pids) + 1) as pool:
        usages = [
            loop.run_in_executor(pool, functools.partial(sample_process, p, seconds=seconds))
            for p in (*pids, etcd_pid)
        ]
        # one probe loop, a second on each server in turn: the same probe load in (a) and (b)
        end = time.monotonic() + seconds
        turn = 0
        while time.monotonic() < end:
            await _probe(admins[turn % len(admins)], min(1.0, end - time.monotonic()), out)
            turn += 1
        done: list[Usage] = [await u for u in usages]
    writes1 = sum([await _writes_answered(a) for a in admins])
    t1, wall1 = time.monotonic(), time.time()
    servers, etcd = done[:-1], done[-1]
    return {
        **out,
        "writes_per_s": [(writes1 - writes0) / (t1 - t0)],
        "rss_mib": [sum(u.rss_mib[i] for u in servers) for i in range(len(servers[0].rss_mib))],
        "cpu_percent": [
            sum(u.cpu_percent[i] for u in servers) for i in range(len(servers[0].cpu_percent))
        ],
        "etcd_cpu_percent": etcd.cpu_percent,
        "window": (wall0, wall1),
    }


async def _measure(
    servers: list[ServerProcess],
    etcd: EtcdProcess,
    base: Path,
    load: Workload,
) -> dict[str, Any]:
    admins = [
        ApiClient(server_url=s.url, token=s.admin_token, ca_file=str(s.ca_file)) for s in servers
    ]
    await _setup(admins[0])
    workers = _start_workers(servers, base, load)
    result: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        bound = 60 + load.agents * 0.02
        while (
            time.monotonic() - t0 < bound
            and sum([await _watchers(a) for a in admins]) < load.agents
        ):
            await asyncio.sleep(0.5)
        result["ramp_s"] = time.monotonic() - t0
        result["watchers"] = sum([await _watchers(a) for a in admins])
        pids = [s.process.pid for s in servers if s.process is not None]
        assert etcd.process is not None
        result["load"] = await _window(admins, pids, etcd.process.pid, load.seconds)
    finally:
        result.update(_stop_workers(workers))
        for a in admins:
            await a.close()
    wall0, wall1 = result["load"]["window"]
    result["lease_ms"] = [ms for t, ms in result["lease_times"] if wall0 <= t <= wall1]
    return result


def _run_one(
    tmp: Path,
    count: int,
    load: Workload,
) -> dict[str, Any]:
    base = tmp / f"{count}-servers"
    base.mkdir()
    etcd = EtcdProcess.start(base / "etcd")
    servers: list[ServerProcess] = []
    try:
        servers = _start_servers(base, etcd, count)
        r = asyncio.run(_measure(servers, etcd, base, load))
    finally:
        for s in servers:
            s.stop()
        etcd.stop()
    window = r["load"]
    r["loadavg"] = os.getloadavg()[0]
    print(
        f"servers: {count} server(s), {load.agents} agents, {r['watchers']} pod watches after"
        f" {r['ramp_s']:.0f} s of ramp-up; {len(r['lease_ms'])} lease renewals and"
        f" {len(window['status'])} status probes in the window, {len(window['errors'])} failed;"
        f" agent-side counts {json.dumps(r['counts'], sort_keys=True)}; answered"
        f" {window['writes_per_s'][0]:.0f} writes/s; load average {r['loadavg']:.1f}",
        file=sys.stderr,
    )
    return r


def run(
    *,
    agents: tuple[int, ...] = (500,),
    per_process: int = 250,
    seconds: float = 30.0,
    status_interval: float = 300.0,
    lease_interval: float = 10.0,
) -> list[Figure]:
    figures: list[Figure] = []
    for n in agents:
        with tempfile.TemporaryDirectory(prefix="bench-servers-", ignore_cleanup_errors=True) as t:
            load = Workload(n, per_process, seconds, status_interval, lease_interval)
            one = _run_one(Path(t), 1, load)
            two = _run_one(Path(t), 2, load)
        wanted = n / lease_interval + n / status_interval
        base = "one server over the same etcd, same agents"
        rows: list[tuple[str, str, list[float], list[float], str]] = [
            ("lease_renew", "ms", two["lease_ms"], one["lease_ms"], "p99 at most 100 ms"),
            (
                "pod_status_update",
                "ms",
                two["load"]["status"],
                one["load"]["status"],
                "p99 at most 100 ms",
            ),
            (
                "writes_answered_per_s",
                "/s",
                two["load"]["writes_per_s"],
                one["load"]["writes_per_s"],
                f"{wanted:.0f}/s asked",
            ),
            ("servers_rss", "MiB", two["load"]["rss_mib"], one["load"]["rss_mib"], ""),
            ("servers_cpu", "%", two["load"]["cpu_percent"], one["load"]["cpu_percent"], ""),
            (
                "etcd_cpu",
                "%",
                two["load"]["etcd_cpu_percent"],
                one["load"]["etcd_cpu_percent"],
                "",
            ),
        ]
        figures += [
            Figure(
                name=f"servers.{n}_agents.2_servers.{figure}",
                unit=unit,
                samples=tuple(samples),
                baseline_name=base,
                baseline=tuple(baseline),
                target=target,
            )
            for figure, unit, samples, baseline, target in rows
        ]
    return figures
