"""What the running agent knows right now, shared between the reconcile loop and the reporters.

The reconcile side (daemon, executor) is the only writer; the HTTP endpoints and the server
reporter only read. `changed` is set whenever a pod's status changes, so the reporter can send
it at once instead of at the next tick.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from nodeagent.agent.sources.update import Rejected, SourceName

Obj = dict[str, Any]


@dataclass(slots=True, kw_only=True)
class PodRecord:
    pod: Obj  # the desired pod as its source gave it (static pods: named NAME-NODE)
    source: SourceName
    status: Obj  # the PodStatus the agent computed (phase, conditions, containerStatuses)
    container_ids: dict[str, str] = field(default_factory=dict)  # container name -> engine id


@dataclass(slots=True, kw_only=True)
class AgentState:
    node_name: str
    pods: dict[str, PodRecord] = field(default_factory=dict)  # keyed by pod uid
    rejected: dict[str, Rejected] = field(default_factory=dict)  # keyed by origin
    runtime_error: str | None = "container runtime not checked yet"
    runtime_info: dict[str, str] = field(default_factory=dict)  # name, version of the engine
    sources_seen: set[SourceName] = field(default_factory=set)
    sources_expected: set[SourceName] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def sources_synced(self) -> bool:
        return self.sources_expected <= self.sources_seen
