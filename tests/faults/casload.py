"""Compare-and-swap load on a few ConfigMaps of a real server, recorded as a history for
linearizability.py, while something (a kill -9, a partition) happens to the server.

    load = CasLoad(url, token, ssl_context, keys=3, clients=6, seed=7)
    await load.create()                      # the keys, at their first versions
    async with load.running():               # clients read-modify-write until the block ends
        ...                                  # kill and restart the server here
    problems = check(load.history, initial=load.initial, final=await load.final())

Each client repeats: GET a key, PUT it back with a new unique value and the read
resourceVersion as precondition. No answer (connection refused or cut, a timeout) is an
"unknown" outcome: the write may have been committed; a 409 is "failed".
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from tests.faults.linearizability import Op, Version

NAMESPACE = "default"
REQUEST_SECONDS = 5.0
PAUSE_AFTER_ERROR = 0.05


class CasLoad:
    def __init__(
        self,
        url: str,
        token: str,
        ssl_context: ssl.SSLContext,
        *,
        keys: int = 3,
        clients: int = 6,
        seed: int = 0,
        prefix: str = "cas",
    ) -> None:
        self._base = f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._ssl = ssl_context
        self.keys = [f"{prefix}-{i}" for i in range(keys)]
        self._clients = clients
        self._random = random.Random(seed)
        self.history: list[Op] = []
        self.initial: dict[str, Version] = {}

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers=self._headers,
            connector=aiohttp.TCPConnector(ssl=self._ssl, force_close=True),
            timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS),
        )

    async def create(self) -> None:
        async with self._session() as http:
            for key in self.keys:
                body = {"metadata": {"name": key}, "data": {"v": "initial"}}
                async with http.post(self._base, json=body) as r:
                    assert r.status == 201, await r.text()
                    obj = await r.json()
                self.initial[key] = _version(obj)

    async def final(self) -> dict[str, Version]:
        """Each key as the server has it now (retried while the server comes back)."""
        out: dict[str, Version] = {}
        deadline = time.monotonic() + 60
        async with self._session() as http:
            for key in self.keys:
                while True:
                    try:
                        async with http.get(f"{self._base}/{key}") as r:
                            if r.status == 200:
                                out[key] = _version(await r.json())
                                break
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    assert time.monotonic() < deadline, f"{key}: no answer for a minute"
                    await asyncio.sleep(0.1)
        return out

    @property
    def acknowledged_writes(self) -> int:
        return sum(1 for op in self.history if op.kind == "write" and op.outcome == "ok")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self._client(n, stop, random.Random(self._random.random())))
            for n in range(self._clients)
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    async def _client(self, n: int, stop: asyncio.Event, rnd: random.Random) -> None:
        counter = 0
        async with self._session() as http:
            while not stop.is_set():
                key = rnd.choice(self.keys)
                current = await self._read(http, n, key)
                if current is None:
                    await asyncio.sleep(PAUSE_AFTER_ERROR)
                    continue
                counter += 1
                await self._cas(http, n, key, current, f"c{n}-{counter}")

    async def _read(self, http: aiohttp.ClientSession, n: int, key: str) -> Version | None:
        start = time.monotonic()
        try:
            async with http.get(f"{self._base}/{key}") as r:
                if r.status != 200:
                    return None
                seen = _version(await r.json())
        except (aiohttp.ClientError, TimeoutError):
            return None
        self.history.append(
            Op(
                client=n,
                key=key,
                kind="read",
                start=start,
                end=time.monotonic(),
                outcome="ok",
                value=seen.value,
                rv=seen.rv,
            )
        )
        return seen

    async def _cas(
        self, http: aiohttp.ClientSession, n: int, key: str, current: Version, value: str
    ) -> None:
        body: dict[str, Any] = {
            "metadata": {"name": key, "resourceVersion": str(current.rv)},
            "data": {"v": value},
        }
        start = time.monotonic()
        outcome: str = "unknown"
        rv = 0
        try:
            async with http.put(f"{self._base}/{key}", json=body) as r:
                if r.status == 200:
                    outcome, rv = "ok", _version(await r.json()).rv
                elif r.status == 409:
                    outcome = "failed"
                # any other answer (a 5xx from a dying server): unknown
        except (aiohttp.ClientError, TimeoutError):
            pass
        self.history.append(
            Op(
                client=n,
                key=key,
                kind="write",
                start=start,
                end=time.monotonic(),
                outcome="ok" if outcome == "ok" else "failed" if outcome == "failed" else "unknown",
                value=value,
                rv=rv,
                expected_rv=current.rv,
            )
        )
        if outcome == "unknown":
            await asyncio.sleep(PAUSE_AFTER_ERROR)


def _version(obj: dict[str, Any]) -> Version:
    return Version(rv=int(obj["metadata"]["resourceVersion"]), value=str(obj["data"]["v"]))
