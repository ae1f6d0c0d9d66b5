"""Helpers the benchmarks share: elapsed time, a free port, a process sampler, a Docker-API client.

Nothing here decides a figure; it only measures (psutil for RSS and CPU, aiohttp on a unix
socket for the engine) and waits on conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import psutil

T = TypeVar("T")
MIB = 1024 * 1024


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def cpu_seconds(pid: int) -> float:
    """Process `pid`'s CPU so far (user + system), in seconds."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def poll(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    interval: float = 0.01,
    what: str,
) -> T:
    """Await `check` until it returns something truthy; TimeoutError naming `what` at the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout}s")
        await asyncio.sleep(interval)


@dataclass(kw_only=True)
class Usage:
    rss_mib: list[float] = field(default_factory=list)  # one per sample
    cpu_percent: list[float] = field(default_factory=list)  # of one core, per interval
    cpu_total_percent: float = 0.0  # of one core, over the whole window


def sample_process(pid: int, *, seconds: float, every: float = 1.0) -> Usage:
    """RSS (with children) every `every` s for `seconds`, and the CPU share of one core."""
    proc = psutil.Process(pid)

    def tree() -> list[Any]:
        try:
            return [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def tree_cpu() -> float:
        total = 0.0
        for p in tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def tree_rss() -> float:
        total = 0
        for p in tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total / MIB

    usage = Usage()
    start_cpu, start = tree_cpu(), time.monotonic()
    cpu0, t0 = start_cpu, start
    end = start + seconds
    while True:
        usage.rss_mib.append(tree_rss())
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(every, end - now))
        cpu1, t1 = tree_cpu(), time.monotonic()
        usage.cpu_percent.append(100 * (cpu1 - cpu0) / (t1 - t0))
        cpu0, t0 = cpu1, t1
    usage.cpu_total_percent = 100 * (tree_cpu() - start_cpu) / (time.monotonic() - start)
    return usage


class Engine:
    """A bare Docker Engine API client on a unix socket (the baseline's whole 'agent')."""

    def __init__(self, socket_path: str) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=socket_path),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        url = "http://engine/v1.41" + path
        async with self.session.request(method, url, json=body, params=params) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path}: {resp.status} {text}")
            return await resp.json(content_type=None) if text else None

    async def containers(self, label: str) -> list[dict[str, Any]]:
        filters = '{"label": ["%s"]}' % label  # noqa: UP031 (a JSON literal, not formatting)
        result: list[dict[str, Any]] = await self.call(
            "GET", "/containers/json", all="true", filters=filters
        )
        return result

    async def close(self) -> None:
        await self.session.close()


async def enrol(
    http: aiohttp.ClientSession, *, server: str, join_secret: str, node: str, ssl: Any = None
) -> str:
    """Enrol `node` as an agent does (join secret, a fresh node password); its bearer token.

    Simulated agents enrol each: one request per node, as cheap as registering its Node.
    """
    body = {"nodeName": node, "nodePassword": secrets.token_urlsafe(32)}
    headers = {"Authorization": f"Bearer {join_secret}"}
    async with http.post(
        server + "/nodeagent.io/v1/enrol", json=body, headers=headers, ssl=ssl
    ) as resp:
        reply = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"enrolling {node}: HTTP {resp.status}: {reply.get('message')}")
        return str(reply["status"]["token"])
