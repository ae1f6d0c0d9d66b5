"""Figure 4: one server process under N simulated agents; its RSS and CPU, and API latency.

The server runs as its own process. N lightweight agents (bench/simwatchers.py, raw aiohttp,
`per_process` to a process) each hold their pod watch, renew their lease every 10 s and patch
their unchanged node status every `status_interval` s (300, the agent's default). Once every
watch is open (or the ramp-up bound has passed), the bench samples the server's RSS and CPU
for `seconds` while probing, one after another, `GET
/api/v1/pods?fieldSelector=spec.nodeName=X` and a pod status update: a GET, then the timed
PUT /status (`pod_status_update`: one API request, as an agent writes from its watch cache;
`pod_status_get_then_put` times both, the figure before 2026-11-23 18:30 UTC).
Baseline, same run and same server before the agents start: the same probes with no load.
Also reported for the window, because the simulated agents share the machine's cores with the
server: the agent processes' CPU (summed, % of one core), the whole machine's busy share, the
share of time the server's event-loop thread waited for a core (Linux schedstat), and the
writes (PATCH/PUT) the server answered per second (its own request counter).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.common import Usage, enrol, ms_since, sample_process
from bench.report import Figure
from nodeagent.agent.apiclient import ApiClient, Unreachable, resource_path
from nodeagent.api import errors
from tests.support.server import ServerProcess, start_server_process

PREFIX = "cap"
PROBE_NODE = f"{PREFIX}-00000"


async def _watchers(admin: ApiClient) -> int:
    """Open pod watches, from the server's own /metrics gauge (-1 if it does not answer)."""
    try:
        text = await admin.get_text("/metrics")
    except (Unreachable, errors.APIError):
        return -1
    for line in text.splitlines():
        if line.startswith("apiserver_registered_watchers") and 'resource="pods"' in line:
            return int(float(line.split()[-1]))
    return 0


async def _writes_answered(admin: ApiClient) -> float:
    """PATCH and PUT requests the server has answered so far (any code), from /metrics (with
    the admin's token: without one, as before 2026-12-07, it answered 401 and this was 0)."""
    text = await admin.get_text("/metrics")
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{") and (
            'verb="PATCH"' in line or 'verb="PUT"' in line
        ):
            total += float(line.split()[-1])
    return total


def _sample_many(pids: list[int], seconds: float) -> list[float]:
    """The summed CPU share (% of one core) of `pids`, per second, over `seconds`."""
    procs = [psutil.Process(p) for p in pids]

    def cpu() -> float:
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total

    out: list[float] = []
    end = time.monotonic() + seconds
    c0, t0 = cpu(), time.monotonic()
    while t0 < end:
        time.sleep(min(1.0, max(0.05, end - t0)))
        c1, t1 = cpu(), time.monotonic()
        out.append(100 * (c1 - c0) / (t1 - t0))
        c0, t0 = c1, t1
    return out


def _sample_runqueue(pid: int, seconds: float) -> list[float]:
    """The share of wall time (%) the server's event-loop thread was ready to run but waited
    for a core (Linux /proc/PID/task/PID/schedstat: ns on the CPU, ns waiting to run), per
    second: how much of its latency the other processes on the machine cause."""
    path = f"/proc/{pid}/task/{pid}/schedstat"

    def waited() -> float:
        try:
            with open(path) as f:
                return int(f.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0

    out: list[float] = []
    end = time.monotonic() + seconds
    w0, t0 = waited(), time.monotonic()
    while t0 < end:
        time.sleep(min(1.0, max(0.05, end - t0)))
        w1, t1 = waited(), time.monotonic()
        out.append(100 * (w1 - w0) / (t1 - t0))
        w0, t0 = w1, t1
    return out


def _sample_machine(seconds: float) -> list[float]:
    """The whole machine's busy share (% of all cores), per second, over `seconds`."""
    out: list[float] = []
    end = time.monotonic() + seconds
    psutil.cpu_percent(None)
    while time.monotonic() < end:
        time.sleep(1.0)
        out.append(float(psutil.cpu_percent(None)))
    return out


async def _setup(admin: ApiClient) -> None:
    await admin.create(resource_path("nodes"), {"metadata": {"name": PROBE_NODE}})
    pod = {
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {"nodeName": PROBE_NODE, "containers": [{"name": "c", "image": "busybox"}]},
    }
    await admin.create(resource_path("pods", namespace="default"), pod)


async def _probe(admin: ApiClient, seconds: float, out: dict[str, list[float]]) -> None:
    """Alternate the two probes for `seconds`, one at a time, 50 ms apart."""
    pod_path = resource_path("pods", namespace="default", name="probe")
    end = time.monotonic() + seconds
    params = {"fieldSelector": f"spec.nodeName={PROBE_NODE}"}
    while time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            await admin.list(resource_path("pods"), params=params)
        except (Unreachable, errors.APIError):  # a failure counts, at the time it took
            out["errors"].append(1.0)
        out["list"].append(ms_since(t0))
        t0 = time.perf_counter()
        try:
            pod = await admin.get(pod_path)
            pod.setdefault("status", {})["message"] = f"probe {time.time()}"
            t1 = time.perf_counter()
            await admin.update(pod_path + "/status", pod)
            out["status"].append(ms_since(t1))  # the PUT: an agent writes from its watch cache
        except (Unreachable, errors.APIError):
            out["errors"].append(1.0)
        out["read_modify_write"].append(ms_since(t0))
        await asyncio.sleep(0.05)


async def _window(
    admin: ApiClient, pid: int, seconds: float, agent_pids: list[int] | None = None
) -> tuple[dict[str, Any], Usage]:
    out: dict[str, list[float]] = {"list": [], "status": [], "read_modify_write": [], "errors": []}
    loop = asyncio.get_running_loop()
    writes0, t0 = await _writes_answered(admin), time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        usage = loop.run_in_executor(pool, lambda: sample_process(pid, seconds=seconds))
        agents = loop.run_in_executor(pool, _sample_many, agent_pids or [], seconds)
        machine = loop.run_in_executor(pool, _sample_machine, seconds)
        runqueue = loop.run_in_executor(pool, _sample_runqueue, pid, seconds)
        await _probe(admin, seconds, out)
        result = await usage
        out["agents_cpu"] = await agents if agent_pids else []
        out["machine_cpu"] = await machine
        out["runqueue_wait"] = await runqueue
    writes1, t1 = await _writes_answered(admin), time.monotonic()
    out["writes_per_s"] = [(writes1 - writes0) / (t1 - t0)]
    return out, result


def _start_workers(
    srv: ServerProcess, base: Path, agents: int, per_process: int, status_interval: float
) -> list[Any]:
    secret = base / "join-secret"
    secret.write_text(srv.join_secret)
    workers = []
    for first in range(0, agents, per_process):
        argv = [sys.executable, "-m", "bench.simwatchers", "--server", srv.url]
        argv += ["--ca-file", str(srv.ca_file), "--secret-file", str(secret), "--prefix", PREFIX]
        argv += ["--first", str(first), "--count", str(min(per_process, agents - first))]
        argv += ["--status-interval", str(status_interval)]
        workers.append(subprocess.Popen(argv, stdout=subprocess.PIPE))
    return workers


async def _measure(
    srv: ServerProcess,
    base: Path,
    agents: int,
    per_process: int,
    seconds: float,
    status_interval: float,
) -> dict[str, Any]:
    assert srv.process is not None
    pid = srv.process.pid
    admin = ApiClient(server_url=srv.url, token=srv.admin_token, ca_file=str(srv.ca_file))
    await _setup(admin)
    result: dict[str, Any] = {}
    result["idle"], result["idle_usage"] = await _window(admin, pid, min(seconds, 10.0))
    workers = _start_workers(srv, base, agents, per_process, status_interval)
    try:
        t0 = time.monotonic()
        bound = 60 + agents * 0.02
        while time.monotonic() - t0 < bound and await _watchers(admin) < agents:
            await asyncio.sleep(0.5)
        result["ramp_s"] = time.monotonic() - t0
        result["watchers"] = await _watchers(admin)
        agent_pids = [w.pid for w in workers]
        result["load"], result["load_usage"] = await _window(admin, pid, seconds, agent_pids)
        try:
            result["gc"] = await _gc_pauses(srv.url, srv.admin_token, srv.ssl_context())
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            result["gc"] = repr(exc)
    finally:
        counts: dict[str, int] = {}
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                stdout, _ = w.communicate(timeout=60)
                for k, v in json.loads(stdout or b"{}").items():
                    counts[k] = counts.get(k, 0) + v
            except (subprocess.TimeoutExpired, ValueError):
                w.kill()
                w.wait()
        result["counts"] = counts
        await admin.close()
    return result


def run(
    *,
    agents: tuple[int, ...] = (1000, 5000, 10000),
    per_process: int = 5000,
    seconds: float = 30,
    status_interval: float = 300.0,
) -> list[Figure]:
    """`status_interval`: how often each agent sends its unchanged node status (300 s: the
    agent's nodeStatusReportFrequency; 10 s: the agent before issue 22); the lease every 10 s."""
    figures: list[Figure] = []
    for n in agents:
        figures += _run_one(n, per_process, seconds, status_interval)
    return figures


def _run_one(agents: int, per_process: int, seconds: float, status_interval: float) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-capacity-", ignore_cleanup_errors=True) as tmp:
        base = Path(tmp)
        srv = start_server_process(base / "server", "--log-level", "warning")
        try:
            r = asyncio.run(_measure(srv, base, agents, per_process, seconds, status_interval))
        finally:
            srv.stop()
    wanted = agents / 10 + agents / status_interval  # lease every 10 s, status as asked
    print(
        f"capacity: {agents} agents, {r['watchers']} pod watches open after {r['ramp_s']:.0f} s"
        f" of ramp-up; {len(r['load']['errors'])} probe(s) failed under load;"
        f" agent-side counts {json.dumps(r['counts'], sort_keys=True)};"
        f" server answered {r['load']['writes_per_s'][0]:.0f} writes/s in the window"
        f" (agents want {wanted:.0f}/s); server GC pauses since start {r.get('gc')}",
        file=sys.stderr,
    )
    idle_u: Usage = r["idle_usage"]
    load_u: Usage = r["load_usage"]
    load, idle = r["load"], r["idle"]
    latency = "p99 at most 100 ms at 10,000 agents"
    same = "same, no agents"
    # figure, unit, samples, baseline's name, baseline, target
    rows: list[tuple[str, str, list[float], str, list[float], str]] = [
        ("get_pods_by_node", "ms", load["list"], same, idle["list"], latency),
        ("pod_status_update", "ms", load["status"], same, idle["status"], latency),
        (
            "pod_status_get_then_put",
            "ms",
            load["read_modify_write"],
            same,
            idle["read_modify_write"],
            "",
        ),
        ("server_rss", "MiB", load_u.rss_mib, same, idle_u.rss_mib, "at most 1 GiB at 10,000"),
        ("server_cpu", "%", load_u.cpu_percent, same, idle_u.cpu_percent, ""),
        ("agents_cpu", "%", load["agents_cpu"], "the server, same window", load_u.cpu_percent, ""),
        ("machine_cpu", "%", load["machine_cpu"], same, idle["machine_cpu"], ""),
        ("server_runqueue_wait", "%", load["runqueue_wait"], same, idle["runqueue_wait"], ""),
        (
            "writes_answered_per_s",
            "/s",
            load["writes_per_s"],
            same,
            idle["writes_per_s"],
            f"{wanted:.0f}/s (lease every 10 s, node status every {status_interval:g} s)",
        ),
    ]
    return [
        Figure(
            name=f"capacity.{agents}_agents.{figure}",
            unit=unit,
            samples=tuple(samples),
            baseline_name=baseline_name,
            baseline=tuple(baseline),
            target=target,
        )
        for figure, unit, samples, baseline_name, baseline, target in rows
    ]


async def _patch_many(srv: ServerProcess, nodes: int, writes: int) -> tuple[float, float]:
    """`writes` node status merge patches (a Ready heartbeat) spread over `nodes` nodes, 32 at
    a time, each with its node's token (enrolled first, untimed); (server CPU seconds, wall
    seconds) they took."""
    assert srv.process is not None
    proc = psutil.Process(srv.process.pid)
    ssl_ctx = srv.ssl_context()
    merge = {"Content-Type": "application/merge-patch+json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx)) as http:
        tokens: dict[str, str] = {}
        for i in range(nodes):
            name = f"{PREFIX}-{i:05d}"
            tokens[name] = await enrol(http, server=srv.url, join_secret=srv.join_secret, node=name)
            hdrs = {"Authorization": f"Bearer {tokens[name]}"}
            body = {"metadata": {"name": name}}
            async with http.post(srv.url + "/api/v1/nodes", json=body, headers=hdrs) as r:
                await r.read()
        gate = asyncio.Semaphore(32)

        async def one(k: int) -> None:
            node = f"{PREFIX}-{k % nodes:05d}"
            hdrs = {"Authorization": f"Bearer {tokens[node]}", **merge}
            cond = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
            cond["lastHeartbeatTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            body = json.dumps({"status": {"conditions": [cond]}})
            async with (
                gate,
                http.patch(srv.url + f"/api/v1/nodes/{node}/status", data=body, headers=hdrs) as r,
            ):
                await r.read()
                assert r.status == 200, r.status

        t0, c0 = time.monotonic(), sum(proc.cpu_times()[:2])
        await asyncio.gather(*(one(k) for k in range(writes)))
        return sum(proc.cpu_times()[:2]) - c0, time.monotonic() - t0


async def _gc_pauses(url: str, token: str, ssl_ctx: Any) -> str:
    """The server's garbage-collector pauses so far, by generation: count and total seconds."""
    hdrs = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx)) as http,
        http.get(url + "/metrics", headers=hdrs) as r,
    ):
        text = await r.text()
    found = {}
    for line in text.splitlines():
        for part in ("_count", "_sum"):
            if line.startswith("nodeagent_gc_pause_seconds" + part):
                gen = line.split('generation="')[1].split('"')[0]
                found[f"gen{gen}{part}"] = round(float(line.split()[-1]), 3)
    return json.dumps(found, sort_keys=True)


def request_cost(*, nodes: int = 200, writes: int = 3000, repeats: int = 3) -> list[Figure]:
    """The server's CPU per node status PATCH (its own process's CPU time over `writes`
    patches, so other load on the machine barely moves it) and the rate it answered them."""
    cpu_us: list[float] = []
    rate: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-cost-", ignore_cleanup_errors=True) as tmp:
        srv = start_server_process(Path(tmp) / "server", "--log-level", "warning")
        try:
            for _ in range(repeats):
                cpu, wall = asyncio.run(_patch_many(srv, nodes, writes))
                cpu_us.append(1e6 * cpu / writes)
                rate.append(writes / wall)
            pauses = asyncio.run(_gc_pauses(srv.url, srv.admin_token, srv.ssl_context()))
            print(f"request_cost: server GC pauses {pauses}", file=sys.stderr)
        finally:
            srv.stop()
    return [
        Figure(name="capacity.server_cpu_per_status_patch", unit="us", samples=tuple(cpu_us)),
        Figure(name="capacity.status_patches_per_s_32_at_once", unit="/s", samples=tuple(rate)),
    ]
