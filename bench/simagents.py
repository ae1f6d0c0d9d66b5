"""Many simulated agents in one process: the agent's real server sync with an instant 'kubelet'.

Each simulated node runs `run_server_sync` (API pod source, registration, node status, lease,
pod status sync: the agent's own code) and, in place of the runtime and reconciler, a tiny loop
that marks every pod it is given Running and Ready at once and forgets a pod being deleted (so
the agent confirms the deletion). Run as `python -m bench.simagents --server URL --ca-file F
--token-file F --state-dir D --prefix NAME --first I --count N`; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path
from typing import Any

from nodeagent import log as logsetup
from nodeagent.agent.apiclient import ApiClient
from nodeagent.agent.serversync import run_server_sync
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.state import AgentState, PodRecord
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time


class Stamps:
    """Wall-clock stamps of one process's agents: (node, what, image, time); dumped at exit.

    `pod_seen` when a node's kubelet is first given a pod, `delete_seen` when it is first given
    it deleting, `status_put_start`/`status_put_end` around each pod status PUT and
    `confirm_start`/`confirm_end` around each pod DELETE the agent sends (`_end` on success,
    `_failed` when it raised: a timed-out PUT is retried later).
    """

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, float]] = []
        self.pods: dict[str, tuple[str, str]] = {}  # pod name -> (node, image)

    def pod(self, pod: Obj, node: str) -> None:
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        self.pods[pod["metadata"]["name"]] = (node, str(containers[0].get("image", "")))

    def add(self, node: str, what: str, image: str) -> None:
        self.rows.append((node, what, image, time.time()))

    def by_pod(self, name: str, what: str) -> None:
        node, image = self.pods.get(name, ("", ""))
        self.rows.append((node, what, image, time.time()))


STAMPS = Stamps()


def instrument_client() -> None:
    """Stamp every pod status PUT and pod DELETE this process's agents send."""
    original = ApiClient.request

    async def request(self: ApiClient, method: str, path: str, **kw: Any) -> Obj:
        parts = path.split("/")
        kind = ""
        if method == "PUT" and path.endswith("/status") and "pods" in parts:
            kind, name = "status_put", parts[-2]
        elif method == "DELETE" and "pods" in parts:
            kind, name = "confirm", parts[-1]
        if kind:
            STAMPS.by_pod(name, f"{kind}_start")
        try:
            reply = await original(self, method, path, **kw)
        except Exception:
            if kind:
                STAMPS.by_pod(name, f"{kind}_failed")
            raise
        if kind:
            STAMPS.by_pod(name, f"{kind}_end")
        return reply

    ApiClient.request = request  # type: ignore[method-assign]


def running_status(pod: Obj, *, now: float) -> Obj:
    """The status a healthy kubelet reports for `pod`: Running, every container ready."""
    at = format_time(now)
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": at}
        for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    containers = [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "sha256:0",
            "containerID": "docker://fake",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": at}},
        }
        for c in (pod.get("spec") or {}).get("containers") or []
    ]
    return {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": at,
        "conditions": conditions,
        "containerStatuses": containers,
    }


async def instant_kubelet(state: AgentState, queue: asyncio.Queue[SourceUpdate]) -> None:
    """Apply every API SourceUpdate to `state` at once, as if every container started."""
    while True:
        update = await queue.get()
        if update.source != SourceName.API:
            continue
        state.sources_seen.add(SourceName.API)
        now = time.time()
        records: dict[str, PodRecord] = {}
        for pod in update.pods:
            meta = pod.get("metadata") or {}
            uid = str(meta.get("uid"))
            old = state.pods.get(uid)
            if meta.get("deletionTimestamp"):
                if old is not None:
                    STAMPS.add(state.node_name, "delete_seen", STAMPS.pods[meta["name"]][1])
                continue  # containers stopped at once: the agent confirms the delete
            if old is not None:
                old.pod = pod
                records[uid] = old
                continue
            STAMPS.pod(pod, state.node_name)
            STAMPS.add(state.node_name, "pod_seen", STAMPS.pods[meta["name"]][1])
            names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
            records[uid] = PodRecord(
                pod=pod,
                source=SourceName.API,
                status=running_status(pod, now=now),
                container_ids={n: f"fake-{uid}-{n}" for n in names},
            )
        state.pods = records
        state.changed.set()


async def one_agent(settings: AgentSettings, *, tick: float) -> None:
    state = AgentState(node_name=settings.node_name, runtime_error=None)
    state.runtime_info = {"name": "fake", "version": "0"}
    state.sources_expected = {SourceName.API}
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(instant_kubelet(state, queue))
        tg.create_task(run_server_sync(settings=settings, state=state, queue=queue, tick=tick))


async def run_agents(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = []
    for i in range(args.first, args.first + args.count):
        name = f"{args.prefix}-{i:05d}"
        state_dir = Path(args.state_dir) / name
        state_dir.mkdir(parents=True, exist_ok=True)
        settings = AgentSettings(
            node_name=name,
            state_dir=str(state_dir),
            server_url=args.server,
            token_file=args.token_file,
            ca_file=args.ca_file,
            node_status_report_frequency=args.status_interval,
            lease_interval=10.0,
        )
        tasks.append(asyncio.create_task(one_agent(settings, tick=args.tick)))
        await asyncio.sleep(args.stagger)  # do not open every connection in the same instant
    await stop.wait()
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.simagents", description=__doc__)
    p.add_argument("--server", required=True)
    p.add_argument("--ca-file", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--prefix", default="sim")
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--tick", type=float, default=10.0, help="node status measuring tick")
    p.add_argument("--stagger", type=float, default=0.005)
    p.add_argument(
        "--status-interval",
        type=float,
        default=300.0,
        help="node status sent unchanged every (the agent's nodeStatusReportFrequency)",
    )
    args = p.parse_args()
    logsetup.configure(level="error")
    instrument_client()
    asyncio.run(run_agents(args))
    out = Path(args.state_dir) / f"stamps-{args.prefix}-{args.first}.json"
    out.write_text(json.dumps(STAMPS.rows))


if __name__ == "__main__":
    main()
