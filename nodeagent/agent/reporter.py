"""The node's side on the server: register the Node, post its status, renew its Lease.

Owns NodeReporter (NPD condition-manager style): a 1 s tick measures the host, evaluates the
conditions and sends the status when it changed or `report_frequency` passed (kubelet's
nodeStatusReportFrequency, 5 min); a failed send only marks a resync. The Lease, renewed every
lease interval, is the heartbeat the node lifecycle controller watches. Pure decisions live in
conditions.py and nodestatus.py; pods are serversync.py's.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from nodeagent.agent import conditions, nodestatus, statedirhealth, stats
from nodeagent.agent.apiclient import ApiClient, Unreachable, resource_path
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.state import RUNTIME_NOT_CHECKED, AgentState
from nodeagent.api import errors
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
LEASE_RENEW_ATTEMPTS = 5  # kubelet's nodelease maxUpdateRetries

log = structlog.get_logger()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReporterConfig:
    node_name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Obj, ...] = ()
    state_dir: str = "/var/lib/nodeagent"
    imagefs_path: str | None = None
    server_url: str | None = None
    thresholds: tuple[conditions.Threshold, ...] = conditions.THRESHOLDS
    transition_period: float = 300.0
    status_interval: float = 10.0  # the node facts are measured again this often
    report_frequency: float = 300.0  # an unchanged status is sent this often
    lease_interval: float = 10.0
    tick: float = 1.0


# (condition, status) -> the Normal event kubelet records when a condition turns to it.
CONDITION_EVENTS: Mapping[tuple[str, str], str] = {
    ("MemoryPressure", "False"): "NodeHasSufficientMemory",
    ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
    ("DiskPressure", "False"): "NodeHasNoDiskPressure",
    ("DiskPressure", "True"): "NodeHasDiskPressure",
    ("PIDPressure", "False"): "NodeHasSufficientPID",
    ("PIDPressure", "True"): "NodeHasInsufficientPID",
    ("Ready", "True"): "NodeReady",
    ("Ready", "False"): "NodeNotReady",
}


def node_event(*, node_name: str, reason: str, message: str, kind: str, now: float) -> Obj:
    """An Event about this Node, as kubelet records them (involvedObject.uid = node name)."""
    stamp = format_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{node_name}.{time.time_ns():x}", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": node_name, "uid": node_name, "apiVersion": "v1"},
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": "nodeagent", "host": node_name},
        "reportingComponent": "nodeagent",
        "reportingInstance": node_name,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def transition_events(old: Obj | None, new: Obj) -> list[tuple[str, str]]:
    """(reason, message) for each condition whose status changed between two sent statuses."""
    before = {c["type"]: c["status"] for c in (old or {}).get("conditions") or []}
    out = []
    for cond in new.get("conditions") or []:
        reason = CONDITION_EVENTS.get((cond["type"], cond["status"]))
        if reason and before.get(cond["type"]) != cond["status"]:
            out.append((reason, f"Node status is now: {reason}"))
    return out


def micro_time(now: float) -> str:
    """A Kubernetes MicroTime: RFC 3339 with microseconds, in UTC."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Warnings:
    """Warn about a repeating failure three times, then at debug level (kubelet failureLogs)."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def failed(self, event: str, **kw: Any) -> None:
        n = self.count[event] = self.count.get(event, 0) + 1
        (log.warning if n <= 3 else log.debug)(event, failures=n, **kw)

    def ok(self, event: str) -> None:
        self.count.pop(event, None)


def heartbeat_timeout(status_update_interval: float) -> float:
    """The Lease and node status requests' timeout: the shorter of the lease duration and the
    status update interval, as kubelet sets its heartbeat client's. A renewal sent into a
    dropped link is given up in time for the next one to land within the grace, however the
    intervals are scaled (a 10 s timeout would eat a 12 s grace)."""
    return float(min(LEASE_DURATION_SECONDS, status_update_interval))


@dataclass(slots=True, kw_only=True)
class NodeReporter:
    client: ApiClient
    config: ReporterConfig
    state: AgentState
    # the Lease renewals and node status writes go through this one (kubelet's heartbeat
    # client: its own connections and heartbeat_timeout); `client` when None
    heartbeats: ApiClient | None = None
    node: Obj | None = None  # the Node as the server last returned it
    pressure: conditions.PressureState = field(default_factory=conditions.PressureState)
    last_sent: Obj | None = None
    last_sent_at: float = float("-inf")
    registered: asyncio.Event = field(default_factory=asyncio.Event)
    warnings: _Warnings = field(default_factory=_Warnings)
    _facts: nodestatus.NodeFacts | None = None  # as last measured in full, at _facts_at
    _facts_at: float = float("-inf")
    _facts_runtime: dict[str, str] = field(default_factory=dict)  # runtime_info they used
    _mounts: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Send the status at the next tick although it did not change: the server's copy may
    # have been changed meanwhile (Unknown by the node lifecycle controller while our Lease
    # could not be renewed; gone with its Node when the Lease was collected).
    resend: bool = False
    _lease_failing: bool = False

    @property
    def node_uid(self) -> str:
        return str(((self.node or {}).get("metadata") or {}).get("uid", ""))

    def node_owner_reference(self) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "name": self.config.node_name,
            "uid": self.node_uid,
        }

    async def _measure(self) -> stats.Measurement:
        """The signals every time; the node facts and the mount table once a status interval
        (a full look cost ~4 ms a second, most of it for what never changes)."""
        mono, runtime_info = time.monotonic(), dict(self.state.runtime_info)
        stale = (
            mono - self._facts_at >= self.config.status_interval
            or runtime_info != self._facts_runtime  # the engine (re)connected: new nodeInfo
        )
        if stale:
            self._mounts = {}
        measured = await asyncio.to_thread(
            stats.measure,
            node_name=self.config.node_name,
            state_dir=self.config.state_dir,
            imagefs_path=self.config.imagefs_path or runtime_info.get("storage_root"),
            server_url=self.config.server_url,
            runtime_info=runtime_info,
            facts=None if stale else self._facts,
            mounts=self._mounts,
        )
        if stale:
            self._facts, self._facts_at, self._facts_runtime = measured.facts, mono, runtime_info
        return measured

    def _status(self, measured: stats.Measurement, *, mono: float, wall: float) -> Obj:
        self.pressure, pressure = conditions.evaluate(
            thresholds=self.config.thresholds,
            observations=measured.observations,
            previous=self.pressure,
            transition_period=self.config.transition_period,
            now=mono,
        )
        previous = (self.node or {}).get("status") or self.last_sent
        ready = conditions.ready_condition(
            runtime_error=self.state.runtime_error,
            checked=self.state.runtime_error != RUNTIME_NOT_CHECKED,
            previous=previous,
        )
        checkpoint = conditions.checkpoint_condition(
            corrupt=self.state.checkpoint_corrupt, rewritten=self.state.checkpoint_rewritten
        )
        state_dir = statedirhealth.state_dir_condition(self.state.state_dir)
        extra = tuple(c for c in (checkpoint, state_dir) if c is not None)
        return nodestatus.build_status(
            previous=previous,
            conditions=(*pressure, ready, *extra),
            facts=measured.facts,
            kubelet_port=self.state.serving_port,  # 0 until the TLS port is open
            now=wall,
        )

    async def post_event(self, *, reason: str, message: str, kind: str = "Normal") -> None:
        """Record an event about this Node; a failure is logged, never raised."""
        body = node_event(
            node_name=self.config.node_name,
            reason=reason,
            message=message,
            kind=kind,
            now=time.time(),
        )
        try:
            await self.client.create(resource_path("events", namespace="default"), body)
        except (Unreachable, errors.APIError) as e:
            self.warnings.failed("node_event_failed", reason=reason, error=str(e))

    async def register(self) -> None:
        """Create the Node, or update an existing one's labels; retry until it is done."""
        failures = 0
        while True:
            try:
                measured = await self._measure()
                await self._register_once(measured.facts)
                self.registered.set()
                log.info("node_registered", node=self.config.node_name, uid=self.node_uid)
                await self.post_event(reason="Starting", message="Starting nodeagent.")
                return
            except (Unreachable, errors.APIError) as e:
                failures += 1
                self.warnings.failed("node_register_failed", error=str(e))
                await asyncio.sleep(min(self.config.status_interval, 0.5 * 2**failures))

    async def _register_once(self, facts: nodestatus.NodeFacts) -> None:
        desired = nodestatus.build_node(
            node_name=self.config.node_name,
            facts=facts,
            labels=self.config.labels,
            taints=self.config.taints,
        )
        path = resource_path("nodes")
        try:
            self.node = await self.client.create(path, desired)
            return
        except errors.AlreadyExists:
            pass
        node_path = resource_path("nodes", name=self.config.node_name)
        existing = await self.client.get(node_path)
        merged = nodestatus.merge_registration(existing, desired)
        self.node = merged if merged == existing else await self.client.update(node_path, merged)

    async def run_status(self) -> None:
        """Until cancelled: measure every tick, send on change or when `report_frequency` has
        passed since the last send (liveness is the Lease's job, not this loop's)."""
        await self.registered.wait()
        while True:
            while self.state.node_events:  # queued by others (a corrupt checkpoint at boot)
                kind, reason, message = self.state.node_events.popleft()
                await self.post_event(reason=reason, message=message, kind=kind)
            measured = await self._measure()
            wall, mono = time.time(), time.monotonic()
            status = self._status(measured, mono=mono, wall=wall)
            due = self.resend or mono - self.last_sent_at >= self.config.report_frequency
            if due or nodestatus.status_changed(self.last_sent, status):
                await self._send_status(status, mono=mono)
            while self.state.node_warnings:
                reason, message = self.state.node_warnings.popleft()
                await self.post_event(reason=reason, message=message, kind="Warning")
            await asyncio.sleep(self.config.tick)

    async def _send_status(self, status: Obj, *, mono: float) -> None:
        path = resource_path("nodes", name=self.config.node_name, subresource="status")
        for attempt in range(3):
            body = copy.deepcopy(self.node or {})
            body["status"] = status
            before = self.last_sent or (self.node or {}).get("status")
            try:
                self.node = await (self.heartbeats or self.client).update(path, body)
                # compared with what the server showed before (a restart sends no NodeReady
                # when the Node was Ready already), as kubelet's setters compare
                events = transition_events(before, status)
                self.last_sent, self.last_sent_at, self.resend = status, mono, False
                for reason, message in events:
                    await self.post_event(reason=reason, message=message)
                self.warnings.ok("node_status_failed")
                return
            except errors.Conflict:
                self.node = await self._get_node()
            except errors.NotFound:
                log.warning("node_deleted_on_server", node=self.config.node_name, attempt=attempt)
                self.registered.clear()
                await self.register()
            except (Unreachable, errors.APIError) as e:
                self.warnings.failed("node_status_failed", error=str(e))
                return

    async def _get_node(self) -> Obj | None:
        try:
            return await self.client.get(resource_path("nodes", name=self.config.node_name))
        except (Unreachable, errors.APIError) as e:
            self.warnings.failed("node_get_failed", error=str(e))
            return self.node

    async def run_lease(self) -> None:
        """Until cancelled: renew kube-node-lease/<node> every lease interval. A renewal that
        fails is tried again at once, up to LEASE_RENEW_ATTEMPTS times (kubelet's
        maxUpdateRetries): each attempt is bounded by the heartbeat timeout, so the first one
        after a dropped link comes back lands then, not an interval later."""
        await self.registered.wait()
        lease: Obj | None = None
        while True:
            for _attempt in range(LEASE_RENEW_ATTEMPTS):
                lease = await self._renew(lease)
                if lease is not None:
                    break
            await asyncio.sleep(self.config.lease_interval)

    def _lease_body(self, lease: Obj | None) -> Obj:
        body: Obj = copy.deepcopy(lease) if lease else {}
        body.setdefault("apiVersion", "coordination.k8s.io/v1")
        body.setdefault("kind", "Lease")
        body.setdefault("metadata", {"name": self.config.node_name, "namespace": LEASE_NAMESPACE})
        if self.node_uid:
            body["metadata"]["ownerReferences"] = [self.node_owner_reference()]
        spec = body.setdefault("spec", {})
        spec["holderIdentity"] = self.config.node_name
        spec["leaseDurationSeconds"] = LEASE_DURATION_SECONDS
        spec["renewTime"] = micro_time(time.time())
        return body

    async def _renew(self, lease: Obj | None) -> Obj | None:
        name_path = resource_path("leases", namespace=LEASE_NAMESPACE, name=self.config.node_name)
        try:
            if lease is None:
                try:
                    lease = await self.client.get(name_path)
                except errors.NotFound:
                    path = resource_path("leases", namespace=LEASE_NAMESPACE)
                    created = await self.client.create(path, self._lease_body(None))
                    self.warnings.ok("lease_renew_failed")
                    return created
            renewed = await (self.heartbeats or self.client).update(
                name_path, self._lease_body(lease)
            )
            self.warnings.ok("lease_renew_failed")
            if self._lease_failing:  # the node may have been marked Unknown meanwhile
                self.resend, self._lease_failing = True, False
            return renewed
        except (errors.Conflict, errors.NotFound) as e:
            log.info("lease_refetch", reason=type(e).__name__)
            if isinstance(e, errors.NotFound):  # collected with its Node? the status finds out
                self.resend = True
            return None
        except (Unreachable, errors.APIError) as e:
            self.warnings.failed("lease_renew_failed", error=str(e))
            self._lease_failing = True
            return None


def reporter_config(
    *,
    settings: AgentSettings,
    thresholds: Sequence[conditions.Threshold],
    tick: float = 1.0,
) -> ReporterConfig:
    """ReporterConfig from the agent's AgentSettings."""
    return ReporterConfig(
        node_name=settings.node_name,
        labels=dict(settings.labels),
        taints=tuple(settings.taints),
        state_dir=settings.state_dir,
        imagefs_path=settings.imagefs_path,
        server_url=settings.server_url,
        thresholds=tuple(thresholds),
        transition_period=settings.pressure_transition_period,
        status_interval=settings.status_update_interval,
        report_frequency=settings.node_status_report_frequency,
        lease_interval=settings.lease_interval,
        tick=tick,
    )
