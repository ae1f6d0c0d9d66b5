"""What the running agent knows right now, shared between the reconcile loop and the reporters.

The reconcile side (daemon, executor) is the only writer; the HTTP endpoints and the server
reporter only read. `changed` is set whenever a pod's status changes, so the reporter can send
it at once instead of at the next tick. `pod_events` queues the events the executor records
(image pulls) for the pod sync to post; bounded, the oldest dropped. `node_warnings` queues
Warning events about the Node itself (the manifest directory polled) for the node reporter.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import structlog

from nodeagent.agent.podevents import PodEvent
from nodeagent.agent.sources.update import Rejected, SourceName
from nodeagent.agent.statedirhealth import StateDirHealth
from nodeagent.api.bodies import Obj

RUNTIME_NOT_CHECKED = "container runtime not checked yet"
POD_EVENTS_QUEUED = 1024  # events waiting for the pod sync; older ones are dropped
NODE_WARNINGS_QUEUED = 16  # Warning events about the node waiting for the node reporter
log = structlog.get_logger()


@dataclass(slots=True, kw_only=True)
class PodRecord:
    pod: Obj  # the desired pod as its source gave it (static pods: named NAME-NODE)
    source: SourceName
    status: Obj  # the PodStatus the agent computed (phase, conditions, containerStatuses)
    container_ids: dict[str, str] = field(default_factory=dict)  # container name -> engine id
    # a deleting pod whose containers run on until its successor's images are here (handover.py):
    # its deletion is confirmed on the server at once, so that the successor is created
    handover: bool = False


@dataclass(slots=True, kw_only=True)
class AgentState:
    node_name: str
    pods: dict[str, PodRecord] = field(default_factory=dict)  # keyed by pod uid
    rejected: dict[str, Rejected] = field(default_factory=dict)  # keyed by origin
    runtime_error: str | None = RUNTIME_NOT_CHECKED
    runtime_info: dict[str, str] = field(default_factory=dict)  # name, version of the engine
    sources_seen: set[SourceName] = field(default_factory=set)
    # (namespace, name) of the static pods the merged sources want (the mirror pods to keep)
    static_wanted: frozenset[tuple[str, str]] = frozenset()
    sources_expected: set[SourceName] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # the TLS serving port once it is open (servingport.py), else 0: the Node's kubeletEndpoint
    serving_port: int = 0
    # the checkpoint found corrupt at boot (why), until the server's pods were listed and
    # checkpointed again; `checkpoint_rewritten` then keeps why, for the condition's message
    checkpoint_corrupt: str | None = None
    checkpoint_rewritten: str | None = None
    # which writes in the state dir are failing (statedirwrites.py): StateDirUnwritable
    state_dir: StateDirHealth = field(default_factory=StateDirHealth)
    # (type, reason, message) of Node events for the reporter to post once it has registered
    node_events: deque[tuple[str, str, str]] = field(default_factory=lambda: deque(maxlen=64))
    # (pod uid, event) recorded by the executor, oldest first, for the pod sync to post
    pod_events: deque[tuple[str, PodEvent]] = field(
        default_factory=lambda: deque(maxlen=POD_EVENTS_QUEUED)
    )

    # (reason, message) of Warning events about this Node, for the node reporter to post
    node_warnings: deque[tuple[str, str]] = field(
        default_factory=lambda: deque(maxlen=NODE_WARNINGS_QUEUED)
    )

    def record_node_warning(self, reason: str, message: str) -> None:
        """Queue a Warning event about this Node (posted once a server is reachable; without
        a server, the log line that goes with it is all there is)."""
        self.node_warnings.append((reason, message))

    def record_pod_event(self, uid: str, event: PodEvent) -> None:
        """Queue an event about pod `uid` (best effort: never blocks; a full queue drops its
        oldest) and wake the pod sync."""
        if len(self.pod_events) == self.pod_events.maxlen:
            dropped_uid, dropped = self.pod_events[0]
            log.debug("pod_event_dropped", pod_uid=dropped_uid, reason=dropped[1])
        self.pod_events.append((uid, event))
        self.changed.set()

    @property
    def sources_synced(self) -> bool:
        return self.sources_expected <= self.sources_seen
