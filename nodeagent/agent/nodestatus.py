"""PURE: this host's Node object (labels, taints at registration) and its status.

Owns NodeFacts (what stats.py found out about the host), the Node built for registration, the
merge with an existing Node (the server's taints and unschedulable win), the status with
condition times, and `status_changed` (send at once or wait for the next heartbeat).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time

if TYPE_CHECKING:  # conditions (and fractions) load with the server reporter, not before
    from nodeagent.agent.conditions import ConditionValue


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFacts:
    """The host as measured: capacity, addresses and nodeInfo, all as API strings."""

    capacity: Mapping[str, str] = field(
        default_factory=dict
    )  # cpu, memory, ephemeral-storage, pods
    addresses: tuple[tuple[str, str], ...] = ()  # (type, address): InternalIP, Hostname
    node_info: Mapping[str, str] = field(default_factory=dict)
    os: str = "linux"
    arch: str = "amd64"


def default_labels(*, node_name: str, os: str, arch: str) -> dict[str, str]:
    """The well-known labels kubelet sets on its Node (and their beta twins)."""
    return {
        "kubernetes.io/hostname": node_name,
        "kubernetes.io/os": os,
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": os,
        "beta.kubernetes.io/arch": arch,
    }


def build_node(
    *,
    node_name: str,
    facts: NodeFacts,
    labels: Mapping[str, str],
    taints: Sequence[Obj],
) -> Obj:
    """The Node this agent registers: default labels, the configured ones, the --taint ones."""
    node: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name,
            "labels": {
                **default_labels(node_name=node_name, os=facts.os, arch=facts.arch),
                **labels,
            },
        },
        "spec": {},
    }
    if taints:
        node["spec"]["taints"] = [dict(t) for t in taints]
    return node


def merge_registration(existing: Obj, desired: Obj) -> Obj:
    """The existing Node updated with our labels; its taints and unschedulable stay the server's."""
    merged = copy.deepcopy(existing)
    meta = merged.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **desired["metadata"]["labels"]}
    return merged


def build_status(
    *,
    previous: Obj | None,
    conditions: Sequence[ConditionValue],
    facts: NodeFacts,
    kubelet_port: int,
    now: float,
) -> Obj:
    """The NodeStatus to send; lastTransitionTime is kept while a condition's status is unchanged.

    `previous` is the status last sent (or read from the server); `now` is wall-clock seconds;
    `kubelet_port` is the agent's TLS serving port, 0 while it is not open (no certificate).
    """
    stamp = format_time(now)
    before = {c.get("type"): c for c in (previous or {}).get("conditions") or []}
    out = []
    for value in conditions:
        old = before.get(value.type) or {}
        changed = old.get("status") != value.status
        out.append(
            {
                "type": value.type,
                "status": value.status,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp if changed else old.get("lastTransitionTime", stamp),
                "reason": value.reason,
                "message": value.message,
            }
        )
    return {
        "conditions": out,
        "capacity": dict(facts.capacity),
        "allocatable": dict(facts.capacity),
        "addresses": [{"type": kind, "address": addr} for kind, addr in facts.addresses],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": dict(facts.node_info),
    }


def _essence(status: Obj) -> Obj:
    """The status without what changes on every measurement (times and figures in messages)."""
    stripped = dict(status)
    stripped["conditions"] = [
        (c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []
    ]
    return stripped


def status_changed(old: Obj | None, new: Obj) -> bool:
    """True when a condition's status or reason, or any other field, differs: send at once."""
    if old is None:
        return True
    return _essence(old) != _essence(new)
