"""The seeded nemesis soak: a fleet (the server on a tmpfs, three hosts in network namespaces,
a DaemonSet on the workers) under compare-and-swap load, and one fault at a time, picked by a
seeded random generator, every INTERVAL seconds; after each, the fleet must heal.

    .venv/bin/python -m tests.faults.soak --seed 7 --minutes 60          # one fault a minute
    .venv/bin/python -m tests.faults.soak --seed 7 --minutes 3 --interval 20
    .venv/bin/python -m tests.faults.soak --faults server_kill --minutes 7 --interval 6  # ~50 kills
    .venv/bin/python -m tests.faults.soak --store etcd --seed 7 --minutes 5 --interval 20

The same seed replays the same faults in the same order, with the same hosts and durations
(timing on a loaded machine still varies). Faults: server kill -9, server disk full, agent
kill -9, agent SIGSTOP (shorter or longer than the node-monitor grace), the link to the server
cut with iptables (DROP, REJECT, 30 % loss) or taken down, or flapping (DROP for 2 s, open for
2 s, over and over, for 1 to 2.5 graces: the node must stay Ready all along). Checked after
each fault: every node Ready again, the DaemonSet's containers the same ones (nothing running
was disturbed), /readyz 200; at the end: the CAS history linearizable (nothing acknowledged
lost, no resourceVersion going back), and each process's open files and memory near where
they started. Exit 0 when all held, 1 with the violations, the seed and the replay command.
Needs root and podman.
`--store etcd` puts the server on a single-member etcd (Debian's etcd-server) of its own:
server disk full is then replaced by etcd kill -9 (the server's data dir holds no objects).
docs/operations.md, "The fault suite and the soak".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import mkdtemp

from tests.e2e.harness import Fleet, Host, new_fleet
from tests.e2e.reading import example_daemonset, pod_ready
from tests.faults.casload import CasLoad
from tests.faults.linearizability import check
from tests.faults.serverfaults import (
    call,
    cut_link,
    fill_disk,
    flapping_link,
    heal_link,
    open_fds,
    rss_bytes,
    small_tmpfs,
)
from tests.support.etcd import EtcdProcess
from tests.support.wait import wait_until

IMAGE = "localhost/busybox:1"
GRACE_SECONDS = 12  # --node-monitor-grace-period of the soak's server (heartbeats every 2 s)
HEAL_SECONDS = 120.0
FLAP = GRACE_SECONDS / 6  # link_flap: cut this long, then open this long, over and over
FD_SLACK = 32  # open files a process may hold beyond its start, at the end
RSS_SLACK = 0.5  # and memory, as a fraction of its start (plus RSS_FLOOR)
RSS_FLOOR = 48 * 1024 * 1024


@dataclass(kw_only=True)
class Soak:
    fleet: Fleet
    data: Path  # the server's data dir, a tmpfs
    rnd: random.Random
    containers: dict[str, set[str]] = field(default_factory=dict)  # host -> container ids
    etcd: EtcdProcess | None = None  # the store, with --store etcd
    log: list[str] = field(default_factory=list)

    @property
    def workers(self) -> list[Host]:
        return self.fleet.workers

    def say(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        self.log.append(line)
        print(line, flush=True)

    def readyz(self) -> int:
        srv = self.fleet.server
        assert srv is not None
        try:
            return call(srv.url + "/readyz", context=srv.ssl_context(), timeout=5)[0]
        except OSError:
            return 0

    def node_ready(self, name: str) -> str:
        node = self.fleet.kubectl_json("get", "node", name)
        for c in node.get("status", {}).get("conditions", []):
            if c.get("type") == "Ready":
                return str(c["status"])
        return ""

    def daemon_containers(self) -> dict[str, set[str]]:
        return {h.name: {c["Id"] for c in h.running("soak-")} for h in self.workers}


# -- the faults: each does its harm, waits out its duration and undoes it ---------------------


def _duration(rnd: random.Random) -> float:
    """Shorter than half the node-monitor grace (the node stays Ready), or longer than the
    grace (Unknown and tainted, then healed), half of the time each."""
    if rnd.random() < 0.5:
        return rnd.uniform(2, GRACE_SECONDS / 2)
    return rnd.uniform(GRACE_SECONDS * 1.5, GRACE_SECONDS * 2.5)


def server_kill(s: Soak) -> str:
    srv = s.fleet.server
    assert srv is not None
    srv.kill()
    srv.start()
    return "server kill -9, started again"


def server_disk_full(s: Soak) -> str:
    seconds = s.rnd.uniform(3, 10)
    filler = fill_disk(s.data)
    answers: set[int] = set()
    try:
        # SQLite reuses its WAL file's space after a checkpoint: commits may go on for a
        # while on a full disk (and then the store is, rightly, ready)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            answers.add(s.readyz())
            time.sleep(0.5)
    finally:
        filler.unlink()
    failing = "commits failed, /readyz 503" if 503 in answers else "commits went on"
    return f"server disk full for {seconds:.0f} s ({failing})"


def etcd_kill(s: Soak) -> str:
    assert s.etcd is not None, "etcd_kill needs --store etcd"
    s.etcd.kill()
    s.etcd.start_again()
    return "etcd kill -9, started again"


def agent_kill(s: Soak) -> str:
    host = s.rnd.choice(s.workers)
    assert host.process is not None
    os.kill(host.process.pid, signal.SIGKILL)
    host.process.wait(10)
    host.start_agent()
    return f"agent kill -9 on {host.name}, started again"


def agent_pause(s: Soak) -> str:
    host = s.rnd.choice(s.workers)
    seconds = s.rnd.choice(
        [
            s.rnd.uniform(2, GRACE_SECONDS / 2),
            s.rnd.uniform(GRACE_SECONDS * 1.5, GRACE_SECONDS * 2.5),
        ]
    )
    assert host.process is not None
    os.kill(host.process.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(host.process.pid, signal.SIGCONT)
    return f"agent SIGSTOP on {host.name} for {seconds:.0f} s"


def _link_fault(kind: str) -> Callable[[Soak], str]:
    def fault(s: Soak) -> str:
        host = s.rnd.choice(s.workers)
        seconds = s.rnd.choice(
            [
                s.rnd.uniform(2, GRACE_SECONDS / 2),
                s.rnd.uniform(GRACE_SECONDS * 1.5, GRACE_SECONDS * 2.5),
            ]
        )
        server_ip = f"{s.fleet.subnet}.1"
        if kind == "DOWN":
            s.fleet.partition(host)
        else:
            cut_link(host.netns, server_ip, kind)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:  # a short cut must not make the node Unknown
                if seconds < GRACE_SECONDS / 2 and kind != "LOSSY":
                    assert s.node_ready(host.name) == "True", f"{host.name} not Ready"
                time.sleep(0.5)
        finally:
            if kind == "DOWN":
                s.fleet.heal(host)
            else:
                heal_link(host.netns)
        return f"link {kind} on {host.name} for {seconds:.0f} s"

    fault.__name__ = f"link_{kind.lower()}"
    return fault


def link_flap(s: Soak) -> str:
    """The link cut for FLAP seconds and open for as long, over and over, for longer than the
    grace in all: the node stays Ready throughout (its Lease gets through in the open windows)."""
    host = s.rnd.choice(s.workers)
    seconds = s.rnd.uniform(GRACE_SECONDS, GRACE_SECONDS * 2.5)
    with flapping_link(host.netns, f"{s.fleet.subnet}.1", down=FLAP, up=FLAP) as flaps:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert s.node_ready(host.name) == "True", f"{host.name} not Ready"
            time.sleep(0.5)
    return f"link flapping on {host.name} for {seconds:.0f} s ({flaps.cuts} cuts of {FLAP:g} s)"


FAULTS: tuple[Callable[[Soak], str], ...] = (
    server_kill,
    server_disk_full,
    agent_kill,
    agent_pause,
    _link_fault("DROP"),
    _link_fault("REJECT"),
    _link_fault("LOSSY"),
    _link_fault("DOWN"),
    link_flap,
)

ETCD_FAULTS: tuple[Callable[[Soak], str], ...] = (
    server_kill,
    etcd_kill,
    *(f for f in FAULTS if f not in (server_kill, server_disk_full)),
)
BY_NAME = {f.__name__: f for f in (*FAULTS, etcd_kill)}
STORE_ONLY = {"server_disk_full": "sqlite", "etcd_kill": "etcd"}


# -- the run ----------------------------------------------------------------------------------


class BackgroundLoad:
    """CasLoad in a thread of its own (the fleet's calls block)."""

    def __init__(self, fleet: Fleet, seed: int) -> None:
        srv = fleet.server
        assert srv is not None
        self.load = CasLoad(srv.url, srv.admin_token, srv.ssl_context(), seed=seed, prefix="soak")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.problems: list[str] = []

    async def _run(self) -> None:
        await self.load.create()
        async with self.load.running():
            while not self._stop.is_set():
                await asyncio.sleep(0.2)
        self.problems = check(
            self.load.history, initial=self.load.initial, final=await self.load.final()
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _heal(s: Soak) -> list[str]:
    """Wait for the fleet to heal; what did not."""
    names = [h.name for h in s.fleet.hosts]
    try:
        wait_until(lambda: s.readyz() == 200, timeout=HEAL_SECONDS, message="/readyz 200")
        s.fleet.wait_ready(names, timeout=HEAL_SECONDS)
    except AssertionError as exc:
        return [str(exc)]
    now = s.daemon_containers()
    return [
        f"{name}: daemon containers changed: {sorted(before)} -> {sorted(now.get(name, set()))}"
        for name, before in s.containers.items()
        if now.get(name) != before
    ]


def _footprint(fleet: Fleet) -> dict[str, tuple[int, int]]:
    procs = {"server": fleet.server.process if fleet.server else None}
    procs |= {h.name: h.process for h in fleet.hosts}
    return {name: (open_fds(p.pid), rss_bytes(p.pid)) for name, p in procs.items() if p}


def run(
    *,
    seed: int,
    minutes: float,
    interval: float,
    faults: tuple[Callable[[Soak], str], ...],
    store: str = "sqlite",
) -> int:
    replay = (
        f".venv/bin/python -m tests.faults.soak --seed {seed} --minutes {minutes:g} "
        f"--interval {interval:g}"
    )
    if store != "sqlite":
        replay += f" --store {store}"
    if faults != (ETCD_FAULTS if store == "etcd" else FAULTS):
        replay += " --faults " + ",".join(f.__name__ for f in faults)
    print(
        f"soak: seed {seed}, {minutes:g} min, a fault every {interval:g} s, store {store}",
        flush=True,
    )
    print(f"soak: replay with: {replay}", flush=True)
    base = Path(mkdtemp(prefix="nodeagent-soak-"))
    rnd = random.Random(seed)
    violations: list[str] = []
    faults_done = 0
    with small_tmpfs(base / "server", size="256m") as data:
        fleet = new_fleet(base, IMAGE)
        etcd = EtcdProcess.start(base / "etcd") if store == "etcd" else None
        try:
            server_args = ("--store", f"etcd://{etcd.endpoint}") if etcd else ()
            fleet.start(hosts=3, node_monitor_grace=f"{GRACE_SECONDS}s", server_args=server_args)
            s = Soak(fleet=fleet, data=data, rnd=rnd, etcd=etcd)
            fleet.apply(example_daemonset("soak", image=IMAGE))
            wait_until(
                lambda: (
                    len([p for p in fleet.pods("name=soak") if pod_ready(p)]) == len(fleet.workers)
                ),
                timeout=HEAL_SECONDS,
                interval=0.5,
                message="the soak DaemonSet ready on the workers",
            )
            s.containers = s.daemon_containers()
            load = BackgroundLoad(fleet, seed)
            load.start()
            time.sleep(5)  # warm: the load's connections open before the first figures
            start = _footprint(fleet)
            end_at = time.monotonic() + minutes * 60
            while time.monotonic() + interval / 2 < end_at:
                tick = time.monotonic()
                fault = rnd.choice(faults)
                try:
                    s.say(f"fault {faults_done + 1}: {fault(s)}")
                except AssertionError as exc:
                    violations.append(f"during {fault.__name__}: {exc}")
                    s.say(f"VIOLATION during {fault.__name__}: {exc}")
                faults_done += 1
                healed = _heal(s)
                for v in healed:
                    s.say(f"VIOLATION after {fault.__name__}: {v}")
                violations += healed
                time.sleep(max(0.0, tick + interval - time.monotonic()))
            load.stop()
            violations += [f"linearizability: {p}" for p in load.problems[:20]]
            end = _footprint(fleet)
            for name, (fds, rss) in start.items():
                if name not in end:
                    continue
                fds_end, rss_end = end[name]
                print(
                    f"soak: {name}: open files {fds} -> {fds_end}, "
                    f"RSS {rss / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB",
                    flush=True,
                )
                if fds_end > fds + FD_SLACK:
                    violations.append(f"{name}: open files {fds} -> {fds_end}")
                if rss_end > rss * (1 + RSS_SLACK) + RSS_FLOOR:
                    violations.append(f"{name}: RSS {rss} -> {rss_end}")
            print(
                f"soak: {faults_done} faults, {load.load.acknowledged_writes} acknowledged "
                f"CAS writes, {len(load.load.history)} operations checked",
                flush=True,
            )
        finally:
            fleet.stop()
            if etcd is not None:
                etcd.kill()
    for v in violations:
        print(f"soak: VIOLATION: {v}", flush=True)
    verdict = "FAILED" if violations else "passed"
    print(f"soak: {verdict}: seed {seed}; replay with: {replay}", flush=True)
    return 1 if violations else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="the faults' seed (default: random)")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between faults")
    parser.add_argument(
        "--faults",
        default="",
        help="only these faults, comma-separated: " + ", ".join(BY_NAME),
    )
    parser.add_argument(
        "--store",
        choices=("sqlite", "etcd"),
        default="sqlite",
        help="the server's store: its SQLite file on the tmpfs, or an etcd of its own",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(1_000_000)
    names = [n for n in args.faults.split(",") if n]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"--faults: unknown {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    misplaced = [n for n in names if STORE_ONLY.get(n, args.store) != args.store]
    if misplaced:
        parser.error(f"--faults: {', '.join(misplaced)} not with --store {args.store}")
    default = ETCD_FAULTS if args.store == "etcd" else FAULTS
    faults = tuple(BY_NAME[n] for n in names) if names else default
    return run(
        seed=seed, minutes=args.minutes, interval=args.interval, faults=faults, store=args.store
    )


if __name__ == "__main__":
    sys.exit(main())
