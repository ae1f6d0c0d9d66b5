"""The audit log's cost: one record in process, and one write through a real server with and
without the audit log.

Figures: `audit.record_us`, what the middleware does for one audited request (the policy check,
an audit ID, the Event, one JSON line through the rotating file handler), in microseconds per
record, against the floor of writing the same line with a bare os.write; `audit.read_skip_us`,
what it costs a read (the policy says no), against an empty function call; `audit.write_ms`, a
pod label PATCH over HTTPS to an in-process server whose audit log is on, against the same
PATCH to a server with `--audit-log-path ''`, requests interleaved so both see the same machine.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import aiohttp

from bench.report import Figure
from nodeagent.api import jsontext
from nodeagent.server.auditlog import MIB, open_audit_log
from nodeagent.server.auditpolicy import audit_event, audited, recorded
from nodeagent.server.main import serve
from nodeagent.server.rest.audit import new_audit_id
from nodeagent.server.settings import ServerSettings

PATH = "/api/v1/namespaces/default/pods/daemon-1"
BATCH = 1000
MERGE = "application/merge-patch+json"


def _event() -> dict[str, object]:
    """What the middleware does for one audited request, but the write."""
    info = audited("PATCH", PATH)
    assert info is not None
    now = time.time()
    assert recorded(info, 200)
    return audit_event(
        info=info,
        audit_id=new_audit_id(),
        stage="ResponseComplete",
        request_uri=PATH,
        username="system:node:node-1",
        groups=("system:nodes", "system:authenticated"),
        source_ip="10.0.0.7",
        user_agent="nodeagent/0.1",
        code=200,
        received=now,
        now=time.time(),
    )


def _per_call_us(fn: Callable[[], object], batches: int) -> list[float]:
    out = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(BATCH):
            fn()
        out.append((time.perf_counter() - t0) / BATCH * 1e6)
    return out


def _in_process(base: Path, batches: int) -> list[Figure]:
    log = open_audit_log(str(base / "audit.log"), max_bytes=100 * MIB, backups=10)
    assert log is not None
    line = (jsontext.dumps(_event()) + "\n").encode()
    fd = os.open(base / "bare.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        record = _per_call_us(lambda: log.write(_event()), batches)
        bare = _per_call_us(lambda: os.write(fd, line), batches)
    finally:
        os.close(fd)
        log.close()
    skip = _per_call_us(lambda: audited("GET", PATH), batches)
    nothing = _per_call_us(lambda: None, batches)
    return [
        Figure(name="audit.record_us", unit="us", samples=tuple(record),
               baseline_name="bare os.write of the line", baseline=tuple(bare)),
        Figure(name="audit.read_skip_us", unit="us", samples=tuple(skip),
               baseline_name="an empty call", baseline=tuple(nothing)),
    ]  # fmt: skip


async def _through_servers(base: Path, writes: int) -> Figure:
    settings = ServerSettings(data_dir=base / "on", listen_port=0, run_controllers=False)
    off_settings = replace(settings, data_dir=base / "off", audit_log_path="")
    async with serve(settings) as on, serve(off_settings) as off:
        assert on.ca_file is not None
        assert off.ca_file is not None
        samples: dict[str, list[float]] = {"on": [], "off": []}
        sessions = []
        for name, handle in (("on", on), ("off", off)):
            context = ssl.create_default_context(cafile=str(handle.ca_file))
            session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {handle.admin_token}"},
                connector=aiohttp.TCPConnector(ssl=context),
            )
            sessions.append((name, handle.url, session))
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "daemon-1", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "localhost/busybox:1"}]},
            }
            async with session.post(f"{handle.url}/api/v1/namespaces/default/pods", json=pod) as r:
                assert r.status == 201, await r.text()
        try:
            for i in range(writes):
                # alternate which server goes first, so neither always follows the other
                for name, url, session in sessions if i % 2 else sessions[::-1]:
                    body = jsontext.dumpb({"metadata": {"labels": {"round": str(i)}}})
                    t0 = time.perf_counter()
                    async with session.patch(
                        url + PATH, data=body, headers={"Content-Type": MERGE}
                    ) as r:
                        await r.read()
                        assert r.status == 200
                    samples[name].append((time.perf_counter() - t0) * 1000)
        finally:
            for _name, _url, session in sessions:
                await session.close()
    return Figure(
        name="audit.write_ms",
        unit="ms",
        samples=tuple(samples["on"]),
        baseline_name="the same PATCH, no audit log",
        baseline=tuple(samples["off"]),
    )


def run(*, batches: int, writes: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        base = Path(tmp)
        figures = _in_process(base, batches)
        figures.append(asyncio.run(_through_servers(base, writes)))
    return figures
