"""Leader election on a coordination.k8s.io Lease, decided as client-go's leaderelection does.

Pure: the lease as read, what this server observed of it and when (monotonic `now`), and the
wall-clock time to write go in; decisions and the lease to write come out. The loop that reads
and writes the lease is server/leader.py. As in client-go, another holder's lease counts as
expired when its record has not changed for leaseDurationSeconds of *our* clock since we first
saw it in that form (no trust in the holder's clock); our own lease is renewed while held.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from nodeagent.api.bodies import Obj

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "nodeagent-controller-manager"
JITTER = 1.2  # client-go's JitterFactor: retries wait retry_period * [1, 1.2)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timings:
    """kube-controller-manager's --leader-elect-* defaults."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def problems(self) -> list[str]:
        """What client-go's NewLeaderElector would refuse (empty when fine)."""
        out = []
        if self.lease_duration <= self.renew_deadline:
            out.append("the lease duration must be greater than the renew deadline")
        if self.renew_deadline <= JITTER * self.retry_period:
            out.append("the renew deadline must be greater than 1.2 x the retry period")
        if self.retry_period <= 0:
            out.append("the retry period must be greater than zero")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """The lease's election record as last read, and when (monotonic) it was first seen so."""

    record: tuple[object, ...]
    at: float


def record_of(lease: Obj | None) -> tuple[object, ...]:
    """The fields that say who holds the lease and since when (a renewal changes renewTime)."""
    spec = (lease or {}).get("spec") or {}
    return (
        spec.get("holderIdentity") or "",
        spec.get("leaseDurationSeconds"),
        spec.get("acquireTime"),
        spec.get("renewTime"),
        spec.get("leaseTransitions"),
    )


def holder(lease: Obj | None) -> str:
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def observe(previous: Observed | None, lease: Obj | None, now: float) -> Observed:
    """Keep the first-seen time while the record is unchanged; restart it when it changes."""
    record = record_of(lease)
    if previous is not None and previous.record == record:
        return previous
    return Observed(record=record, at=now)


def should_acquire(lease: Obj | None, *, observed: Observed, now: float, me: str) -> bool:
    """May `me` write the lease now: it is absent, free, ours, or its holder's record has
    not changed for its leaseDurationSeconds since we first saw it (the holder is gone)."""
    current = holder(lease)
    if lease is None or not current or current == me:
        return True
    duration = ((lease.get("spec") or {}).get("leaseDurationSeconds")) or 0
    return now >= observed.at + float(duration)


def still_leading(*, last_renewed: float, now: float, timings: Timings) -> bool:
    """A leader that has not renewed within the renew deadline steps down."""
    return now - last_renewed < timings.renew_deadline


def micro_time(wall: float) -> str:
    """A Kubernetes MicroTime: RFC 3339 with microseconds, UTC."""
    moment = dt.datetime.fromtimestamp(wall, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claimed(lease: Obj | None, *, me: str, wall: float, timings: Timings) -> Obj:
    """The lease to write to take or renew it (metadata kept: the write is a CAS on it).
    A new holder sets acquireTime and counts a transition; a renewal only moves renewTime."""
    stamp = micro_time(wall)
    spec = dict((lease or {}).get("spec") or {})
    if lease is None:
        transitions = 0
    elif holder(lease) == me:
        transitions = int(spec.get("leaseTransitions") or 0)
    else:
        transitions = int(spec.get("leaseTransitions") or 0) + 1
    if holder(lease) != me or not spec.get("acquireTime"):
        spec["acquireTime"] = stamp
    spec.update(
        holderIdentity=me,
        leaseDurationSeconds=max(1, math.ceil(timings.lease_duration)),
        renewTime=stamp,
        leaseTransitions=transitions,
    )
    metadata = dict((lease or {}).get("metadata") or {})
    metadata.setdefault("name", LEASE_NAME)
    metadata.setdefault("namespace", LEASE_NAMESPACE)
    return {
        **(lease or {}),
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


def released(lease: Obj, *, wall: float) -> Obj:
    """client-go's release on a clean stop: no holder, a 1 s lease, so the next server takes
    over at its next retry instead of after a whole lease duration."""
    stamp = micro_time(wall)
    spec = dict(lease.get("spec") or {})
    spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=stamp, acquireTime=stamp)
    return {**lease, "spec": spec}
