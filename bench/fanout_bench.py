"""Figure 3: one server and N simulated agents; DaemonSet create -> every pod Running, and
DaemonSet image change -> every node reporting the new pod Ready (per node, p50/p99).

The server runs as its own process; the agents (bench/simagents.py: the agent's real server
sync with an instant in-memory 'kubelet') run `per_process` to a process. The bench follows
every pod with one admin watch and stamps, per node, the first moment the wanted pod shows.
The DaemonSet rolls with maxUnavailable 100 % (every node at once; the default of 1 would
make a 1,000-node rollout 1,000 steps by design). Baseline, same run: N pod status writes
(GET + PUT /status) by one bare client, 64 at a time: the per-write latency, and the total.
Per phase it also prints, from the server's /metrics, its CPU and requests, its own time per
request kind, and the DaemonSet controller's syncs (workqueue_work_duration_seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import cpu_seconds, ms_since, poll
from bench.report import Figure
from nodeagent.agent.apiclient import ApiClient, Unreachable, resource_path
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from tests.support.server import ServerProcess, start_server_process

DS_NAME = "fan"
NAMESPACE = "default"


def _daemonset(image: str, *, grace: int = 0) -> Obj:
    labels = {"app": DS_NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": DS_NAME, "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "100%"},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": grace,
                    "containers": [{"name": "main", "image": image}],
                },
            },
        },
    }


def _ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class Tracker:
    """Per node: when the first pod matching the current goal was seen (ms after `t0`)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.wall0 = time.time()
        self.image = ""
        self.need_ready = False
        self.seen: dict[str, float] = {}
        self.created: dict[str, float] = {}  # node -> the goal's pod first on the watch
        self.deleting: dict[str, float] = {}  # node -> an old pod first seen terminating
        self.gone: dict[str, float] = {}  # node -> an old pod first seen deleted
        self.lists = 0  # the follower's lists: more than one means its watch was ended

    def goal(self, *, image: str, need_ready: bool) -> None:
        self.t0, self.wall0 = time.perf_counter(), time.time()
        self.image, self.need_ready = image, need_ready
        self.seen, self.created, self.deleting, self.gone = {}, {}, {}, {}

    def deleted(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        if node and node not in self.gone and containers[0].get("image") != self.image:
            self.gone[node] = ms_since(self.t0)

    def observe(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or node in self.seen:
            return
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            if containers[0].get("image") != self.image and node not in self.deleting:
                self.deleting[node] = ms_since(self.t0)
            return
        if containers[0].get("image") != self.image:
            return
        if node not in self.created:
            self.created[node] = ms_since(self.t0)
        phase_ok = (pod.get("status") or {}).get("phase") == "Running"
        if phase_ok and (_ready(pod) or not self.need_ready):
            self.seen[node] = ms_since(self.t0)


async def _follow(admin: ApiClient, tracker: Tracker) -> None:
    path = resource_path("pods")
    while True:
        listed = await admin.list(path)
        tracker.lists += 1
        for pod in listed.get("items") or []:
            tracker.observe(pod)
        rv = str((listed.get("metadata") or {}).get("resourceVersion", ""))
        with contextlib.suppress(Unreachable):
            async for event in admin.watch(path, params={"resourceVersion": rv}):
                if event.type in ("ADDED", "MODIFIED"):
                    tracker.observe(event.object)
                elif event.type == "DELETED":
                    tracker.deleted(event.object)


async def _bare_writes(admin: ApiClient, count: int) -> tuple[list[float], float]:
    listed = (await admin.list(resource_path("pods", namespace=NAMESPACE))).get("items") or []
    # the rollout's old pods may still be finishing their deletion: write the current ones
    pods = [p for p in listed if not p["metadata"].get("deletionTimestamp")]
    pods = (pods * (count // max(len(pods), 1) + 1))[:count]
    gate = asyncio.Semaphore(64)
    latencies: list[float] = []

    async def write(pod: Obj) -> None:
        async with gate:
            t0 = time.perf_counter()
            meta = pod["metadata"]
            path = resource_path("pods", namespace=NAMESPACE, name=meta["name"])
            try:
                current = await admin.get(path)
                await admin.update(path + "/status", current)
            except (errors.NotFound, errors.Conflict):  # deleted or written since: no sample
                return
            latencies.append(ms_since(t0))

    t0 = time.perf_counter()
    await asyncio.gather(*(write(p) for p in pods))
    return latencies, ms_since(t0)


REQUEST_LINE = re.compile(
    r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$", re.MULTILINE
)


DURATION_LINE = re.compile(
    r"^apiserver_request_duration_seconds_(?P<what>sum|count)\{(?P<labels>[^}]*)\}"
    r" (?P<value>[0-9.e+]+)$",
    re.MULTILINE,
)


async def server_requests(admin: ApiClient) -> Counter[str]:
    """The server's request counts so far, by 'VERB resource' (its /metrics)."""
    counts: Counter[str] = Counter()
    for m in REQUEST_LINE.finditer(await admin.get_text("/metrics")):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        counts[f"{labels.get('verb')} {labels.get('resource')}"] += int(float(m["value"]))
    return counts


async def server_seconds(admin: ApiClient) -> dict[str, float]:
    """The server's summed request time so far (its own clock, from reading the request to
    the last byte of the answer), by 'VERB resource[/subresource]', and each one's count
    under 'VERB resource[/subresource] n'."""
    sums: dict[str, float] = {}
    for m in DURATION_LINE.finditer(await admin.get_text("/metrics")):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        if labels.get("verb") == "WATCH":
            continue
        sub = f"/{labels['subresource']}" if labels.get("subresource") else ""
        key = f"{labels.get('verb')} {labels.get('resource')}{sub}"
        key += " n" if m["what"] == "count" else ""
        sums[key] = sums.get(key, 0.0) + float(m["value"])
    return sums


def server_time_line(phase: str, before: dict[str, float], after: dict[str, float]) -> str:
    """The server's own mean time per request in a phase, for its busiest kinds: set against
    what the agents saw, it says whether a slow write waited in the server or before it."""
    done = {k: v - before.get(k, 0.0) for k, v in after.items()}
    kinds = sorted(
        (k[: -len(" n")] for k in done if k.endswith(" n") and done[k] > 0),
        key=lambda k: -done[k + " n"],
    )[:5]
    parts = [
        f"{k} {1000 * done[k] / done[k + ' n']:.1f} ms (n={done[k + ' n']:.0f})" for k in kinds
    ]
    return f"fanout {phase}: the server's mean time per request: " + ", ".join(parts)


SYNC_LINE = re.compile(
    r'^workqueue_(?P<what>work|queue)_duration_seconds_(?P<stat>sum|count)\{name="daemonset"\}'
    r" (?P<value>[0-9.e+]+)$",
    re.MULTILINE,
)


async def daemonset_syncs(admin: ApiClient) -> dict[str, float]:
    """The DaemonSet controller's queue so far (its workqueue metrics on /metrics): the syncs'
    summed time and count (`work sum`, `work count`), and the keys' summed and counted waits
    for a worker (`queue sum`, `queue count`)."""
    text = await admin.get_text("/metrics")
    return {f"{m['what']} {m['stat']}": float(m["value"]) for m in SYNC_LINE.finditer(text)}


def sync_line(phase: str, before: dict[str, float], after: dict[str, float]) -> str:
    """How many DaemonSet syncs a phase took, their mean time, and the keys' mean wait."""

    def done(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    syncs, waits = done("work count"), done("queue count")
    sync_ms = 1000 * done("work sum") / syncs if syncs else 0.0
    wait_ms = 1000 * done("queue sum") / waits if waits else 0.0
    return (
        f"fanout {phase}: the DaemonSet controller's syncs: {syncs:.0f}, mean {sync_ms:.1f} ms"
        f" (workqueue_work_duration_seconds); each key waited {wait_ms:.1f} ms for a worker"
    )


def load_line(
    *, phase: str, cpu: float, wall: float, before: Counter[str], after: Counter[str]
) -> str:
    """What the server did during a phase: CPU, wall time, HTTP requests by kind."""
    done = after - before
    total = sum(done.values())
    top = ", ".join(f"{k} {v}" for k, v in done.most_common(8))
    per = cpu * 1000 / total if total else 0.0
    return (
        f"fanout {phase}: server CPU {cpu:.1f} s in {wall:.1f} s ({100 * cpu / wall:.0f}% of a"
        f" core); {total} HTTP requests ({per:.1f} ms CPU each, controller writes aside): {top}"
    )


async def _patch_retrying(admin: ApiClient, patch: Obj) -> int:
    """PATCH the DaemonSet; returns how many 409s came back first (see docs/performance.md)."""
    path = resource_path("daemonsets", namespace=NAMESPACE, name=DS_NAME)
    for conflicts in range(50):
        try:
            await admin.patch(path, patch, patch_type="strategic")
            return conflicts
        except errors.Conflict:
            await asyncio.sleep(0.01)
    raise RuntimeError("PATCH of the DaemonSet conflicted 50 times")


async def _measure(
    srv: ServerProcess, nodes: int, timeout: float, *, grace: int = 0
) -> dict[str, Any]:
    admin = ApiClient(
        server_url=srv.url, token=srv.admin_token, ca_file=str(srv.ca_file), timeout=60
    )
    try:
        pid = srv.process.pid if srv.process else 0
        return await _measure_with(admin, nodes, timeout, pid=pid, grace=grace)
    finally:
        await admin.close()


async def _measure_with(
    admin: ApiClient, nodes: int, timeout: float, *, pid: int, grace: int
) -> dict[str, Any]:
    async def registered() -> bool:
        items = (await admin.list(resource_path("nodes"))).get("items") or []
        return len(items) >= nodes

    out: dict[str, Any] = {"patch_conflicts": 0, "short": [], "load": []}
    t0 = time.perf_counter()
    with contextlib.suppress(TimeoutError):  # go on with the nodes there are
        await poll(registered, timeout=timeout, interval=0.5, what=f"{nodes} nodes registered")
    out["register_s"] = ms_since(t0) / 1000
    have = len((await admin.list(resource_path("nodes"))).get("items") or [])
    tracker = Tracker()
    follower = asyncio.create_task(_follow(admin, tracker))
    try:
        for phase, image, need_ready in (
            ("create", "localhost/busybox:1", False),
            ("update", "localhost/busybox:2", True),
        ):
            requests_before, cpu_before = await server_requests(admin), cpu_seconds(pid)
            seconds_before, syncs_before = await server_seconds(admin), await daemonset_syncs(admin)
            tracker.goal(image=image, need_ready=need_ready)
            if phase == "create":
                await admin.create(
                    resource_path("daemonsets", namespace=NAMESPACE), _daemonset(image, grace=grace)
                )
            else:
                patch = {"spec": {"template": {"spec": {"containers": [
                    {"name": "main", "image": image}
                ]}}}}  # fmt: skip
                out["patch_conflicts"] = await _patch_retrying(admin, patch)

            async def everywhere() -> bool:
                return len(tracker.seen) >= have

            try:
                await poll(everywhere, timeout=timeout, interval=0.05, what=f"{phase} everywhere")
            except TimeoutError:  # report the nodes that made it, and say so
                out["short"].append(f"{phase}: {len(tracker.seen)} of {have} nodes in {timeout} s")
            out[phase] = sorted(tracker.seen.values()) or [timeout * 1000]
            out["load"].append(
                load_line(
                    phase=phase,
                    cpu=cpu_seconds(pid) - cpu_before,
                    wall=ms_since(tracker.t0) / 1000,
                    before=requests_before,
                    after=await server_requests(admin),
                )
            )
            out["load"].append(server_time_line(phase, seconds_before, await server_seconds(admin)))
            out["load"].append(sync_line(phase, syncs_before, await daemonset_syncs(admin)))
            out[f"{phase}_wall0"], out[f"{phase}_image"] = tracker.wall0, image
            out[f"{phase}_steps"] = {
                "controller_create_on_watch": sorted(tracker.created.values()),
                "old_pod_terminating_on_watch": sorted(tracker.deleting.values()),
                "old_pod_deleted_on_watch": sorted(tracker.gone.values()),
            }
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        out["follower_lists"] = tracker.lists
    out["bare"], out["bare_total"] = await _bare_writes(admin, nodes)
    return out


# what the simulated agents stamp (bench/simagents.py Stamps), and whose pod: the phase's
# image, or the image the phase replaces
AGENT_STEPS = (
    ("delete_seen", False),
    ("confirm_start", False),
    ("confirm_end", False),
    ("pod_seen", True),
    ("status_put_start", True),
    ("status_put_end", True),
    ("status_put_failed", True),
)


def agent_steps(
    rows: list[list[Any]], *, wall0: float, image: str, old_image: str
) -> dict[str, list[float]]:
    """Per step, each node's first stamp of it after `wall0` (ms after it), sorted."""
    firsts: dict[tuple[str, str], float] = {}
    wanted = dict(AGENT_STEPS)
    for node, what, img, at in rows:
        if what not in wanted or at < wall0:
            continue
        if img != (image if wanted[what] else old_image):
            continue
        key = (what, node)
        firsts[key] = min(firsts.get(key, at), at)
    out: dict[str, list[float]] = {what: [] for what, _ in AGENT_STEPS}
    for (what, _node), at in firsts.items():
        out[what].append((at - wall0) * 1000)
    return {k: sorted(v) for k, v in out.items()}


def _read_stamps(agents_dir: Path) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for f in sorted(agents_dir.glob("stamps-*.json")):
        rows += json.loads(f.read_text())
    return rows


def _step_figures(nodes: int, out: dict[str, Any], rows: list[list[Any]]) -> list[Figure]:
    """The rollout's steps, per node, in ms after the phase began (no baseline: a breakdown)."""
    figures = []
    for phase, old in (("create", ""), ("update", out.get("create_image", ""))):
        if f"{phase}_wall0" not in out:
            continue
        steps = dict(out[f"{phase}_steps"])
        steps |= agent_steps(
            rows, wall0=out[f"{phase}_wall0"], image=out[f"{phase}_image"], old_image=old
        )
        figures += [
            Figure(name=f"fanout.{nodes}_nodes.{phase}.step.{step}", unit="ms", samples=tuple(v))
            for step, v in steps.items()
            if v
        ]
    return figures


def run(
    *,
    nodes: tuple[int, ...] = (100, 1000),
    per_process: int = 500,
    timeout: float = 150.0,
    server_log_level: str = "warning",
    keep_server_log: str | None = None,
    status_interval: float = 300.0,
    grace: int = 0,
) -> list[Figure]:
    """`timeout` bounds registration and each phase; a phase cut short reports the nodes
    that made it (the figure's n says how many) and names itself on stderr. With
    `keep_server_log` (a path prefix) the server's log is kept as PREFIX-N.log.
    `status_interval`: how often an agent sends an unchanged node status (the agent's
    nodeStatusReportFrequency, 300 s as kubelet's, the Lease being the heartbeat; 10 s was the
    agent's before): an experiment on the heartbeats' share of the server's load. `grace`: the
    template's terminationGracePeriodSeconds (above 0, old pods are deleted gracefully and
    each agent confirms with its grace-0 delete)."""
    figures: list[Figure] = []
    for n in nodes:
        keep = f"{keep_server_log}-{n}.log" if keep_server_log else None
        figures += _run_one(
            n,
            per_process,
            timeout,
            level=server_log_level,
            keep=keep,
            status_interval=status_interval,
            grace=grace,
        )
    return figures


def _run_one(
    nodes: int,
    per_process: int,
    timeout: float,
    *,
    level: str,
    keep: str | None,
    status_interval: float,
    grace: int,
) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-fanout-", ignore_cleanup_errors=True) as tmp:
        base = Path(tmp)
        srv = start_server_process(base / "server", "--log-level", level)
        token_file = base / "join-secret"
        token_file.write_text(srv.join_secret)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            for first in range(0, nodes, per_process):
                argv = [sys.executable, "-m", "bench.simagents", "--server", srv.url]
                argv += ["--ca-file", str(srv.ca_file), "--token-file", str(token_file)]
                argv += ["--state-dir", str(base / "agents"), "--prefix", "fan"]
                argv += ["--first", str(first), "--count", str(min(per_process, nodes - first))]
                argv += ["--status-interval", str(status_interval)]
                workers.append(subprocess.Popen(argv))
            out = asyncio.run(_measure(srv, nodes, timeout=timeout, grace=grace))
        except (Unreachable, errors.APIError) as e:  # an overwhelmed server: say so, go on
            print(f"fanout: {nodes} nodes: could not finish: {e}", file=sys.stderr)
            return []
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                try:
                    w.wait(30)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
            srv.stop()
        rows = _read_stamps(base / "agents")
        if keep and srv.log_path is not None:
            Path(keep).write_bytes(srv.log_path.read_bytes())
    bare_name = "bare pod status write (GET + PUT /status), 64 at once"
    print(
        f"fanout: {nodes} simulated agents registered in {out['register_s']:.1f} s;"
        f" the image PATCH got {out['patch_conflicts']} conflict(s) first;"
        f" cut short: {out['short'] or 'none'};"
        f" the pod follower listed {out['follower_lists']} time(s) (more than 1: its watch"
        " was ended as too slow, so a late relist may have stamped nodes late)",
        file=sys.stderr,
    )
    for line in out["load"]:
        print(line, file=sys.stderr)
    return [
        Figure(
            name=f"fanout.{nodes}_nodes.create_to_pod_running",
            unit="ms",
            samples=tuple(out["create"]),
            baseline_name=bare_name,
            baseline=tuple(out["bare"]),
        ),
        Figure(
            name=f"fanout.{nodes}_nodes.image_change_to_new_pod_ready",
            unit="ms",
            samples=tuple(out["update"]),
            baseline_name=bare_name,
            baseline=tuple(out["bare"]),
            target="p99 at most 1 s at 1000 agents",
        ),
        *_step_figures(nodes, out, rows),
        Figure(
            name=f"fanout.{nodes}_nodes.image_change_to_all_ready_total",
            unit="ms",
            samples=(max(out["update"]),),
            baseline_name=f"{nodes} bare status writes, total",
            baseline=(out["bare_total"],),
        ),
    ]
