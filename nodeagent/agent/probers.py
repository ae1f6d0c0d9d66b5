"""Probe I/O: runs due exec / httpGet / tcpSocket probes and feeds the pure state machine.

Which probe is due and what a result means is decided in probes.py; this module only performs
the checks (each with its timeoutSeconds) and stores the new states in `results`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from nodeagent.agent import probes
from nodeagent.agent.aio import raise_if_cancelling
from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.agent.probes import ProbeKey, ProbeKind, ProbeSpec, ProbeState
from nodeagent.api.bodies import Obj
from nodeagent.runtime.protocol import ContainerInfo, ContainerState, Runtime, RuntimeError_

log = structlog.get_logger()


def _port(value: Any, container: Obj) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p["containerPort"])
    raise ValueError(f"no port named {value!r} in container {container['name']}")


@dataclass(slots=True, kw_only=True)
class Prober:
    runtime: Runtime
    host_ip: str
    on_change: Callable[[], None] = lambda: None
    on_failure: Callable[[], None] = lambda: None  # counts failed tries (metrics)
    results: dict[ProbeKey, ProbeState] = field(default_factory=dict)
    _inflight: dict[ProbeKey, asyncio.Task[None]] = field(default_factory=dict)
    _started: dict[ProbeKey, float] = field(default_factory=dict)  # when each in-flight try began

    def tick(
        self, *, pods: Mapping[str, DesiredPod], observed: Sequence[ContainerInfo], now: float
    ) -> float | None:
        """Start every probe that is due now; forget the probes of containers that are gone.

        Returns when the next probe falls due (None: no probe to run), for the caller's timer."""
        live: set[str] = set()
        due_times: list[float] = []
        pod_ips = {c.pod_uid: c.pod_ip for c in observed if c.is_sandbox and c.pod_ip}
        for c in observed:
            d = pods.get(c.pod_uid)
            if c.is_sandbox or c.is_init or c.state is not ContainerState.RUNNING:
                continue
            if d is None or d.deleting:
                continue
            spec_c = next(
                (x for x in d.pod["spec"].get("containers") or [] if x["name"] == c.container_name),
                None,
            )
            if spec_c is None:
                continue
            live.add(c.id)
            for kind in ProbeKind:
                if not probes.should_run(kind, spec_c, self.results, c.id):
                    continue
                key = (c.id, kind)
                state = self.results.get(key) or probes.initial_state(kind)
                spec = ProbeSpec.from_probe(spec_c[kind.value])
                started = c.started_at if c.started_at is not None else now
                if key in self._inflight:  # its try started at _started[key]: due a period on
                    due_times.append(self._started.get(key, now) + spec.period)
                    continue
                if not probes.is_due(state, spec, started_at=started, now=now):
                    due_times.append(probes.next_due(state, spec, started_at=started))
                    continue
                due_times.append(now + spec.period)
                self._started[key] = now
                self.results.setdefault(key, state)
                target = (
                    self.host_ip if d.pod["spec"].get("hostNetwork") else pod_ips.get(c.pod_uid, "")
                )
                self._inflight[key] = asyncio.create_task(
                    self._run(key, d, spec_c, c, spec, now, target),
                    name=f"probe-{kind}-{c.id[:12]}",
                )
        for key in [k for k in self.results if k[0] not in live]:
            del self.results[key]
        for key in [k for k in self._started if k not in self._inflight]:
            del self._started[key]
        return min(due_times, default=None)

    async def _run(
        self,
        key: ProbeKey,
        d: DesiredPod,
        spec_c: Obj,
        c: ContainerInfo,
        spec: ProbeSpec,
        now: float,
        host: str,
    ) -> None:
        kind = key[1]
        try:
            ok, message = await self.check(spec_c[kind.value], spec_c, c, host, spec.timeout)
        except Exception as e:  # a probe that breaks is a failed probe, never a dead agent
            raise_if_cancelling()
            ok, message = False, f"probe error: {e}"
        finally:
            self._inflight.pop(key, None)
        old = self.results.get(key)
        if old is None:  # the container went away meanwhile
            return
        new = probes.record(old, spec, success=ok, now=now, message=message)
        self.results[key] = new
        if not ok:
            self.on_failure()
            log.info(
                "probe_failed",
                pod=d.pod["metadata"]["name"],
                container=c.container_name,
                probe=kind.value,
                failures=new.failures,
                message=message,
            )
        if new.result != old.result:
            log.info(
                "probe_result_changed",
                pod=d.pod["metadata"]["name"],
                container=c.container_name,
                probe=kind.value,
                result=new.result,
            )
            self.on_change()

    async def check(
        self, probe: Obj, spec_c: Obj, c: ContainerInfo, host: str, timeout: float
    ) -> tuple[bool, str]:
        """Run one probe handler against `host` (the pod IP, or the host's): (ok, message)."""
        if "exec" in probe:
            command = probe["exec"].get("command") or []
            try:
                result = await self.runtime.exec(c.id, command, timeout=timeout)
            except RuntimeError_ as e:
                raise_if_cancelling()
                return False, str(e)
            output = result.output.decode(errors="replace").strip()
            return result.exit_code == 0, output[-500:]
        if "httpGet" in probe:
            return await self._http(probe["httpGet"], spec_c, host, timeout)
        if "tcpSocket" in probe:
            return await self._tcp(probe["tcpSocket"], spec_c, host, timeout)
        return False, "probe has no handler"

    async def _http(self, get: Obj, spec_c: Obj, host: str, timeout: float) -> tuple[bool, str]:
        host = get.get("host") or ("127.0.0.1" if host in ("", "0.0.0.0") else host)
        scheme = str(get.get("scheme") or "HTTP").lower()
        url = f"{scheme}://{host}:{_port(get.get('port'), spec_c)}{get.get('path') or '/'}"
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
        headers.setdefault("User-Agent", "kube-probe/nodeagent")
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.get(url, headers=headers, ssl=False, allow_redirects=True) as resp,
            ):
                ok = 200 <= resp.status < 400
                return ok, "" if ok else f"HTTP probe failed with statuscode: {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as e:
            return False, f"Get {url!r}: {e or 'timeout'}"

    async def _tcp(self, sock: Obj, spec_c: Obj, host: str, timeout: float) -> tuple[bool, str]:
        host = sock.get("host") or host
        port = _port(sock.get("port"), spec_c)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, TimeoutError) as e:
            return False, f"dial tcp {host}:{port}: {e or 'timeout'}"
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True, ""

    async def cancel(self, *, wait: float = 5.0) -> None:
        """Cancel what is in flight; wait at most `wait` seconds (a call into the engine that
        ignores cancellation must not hold up the agent's stop)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=wait)
            if pending:
                log.warning("probes_not_cancelled", count=len(pending))
