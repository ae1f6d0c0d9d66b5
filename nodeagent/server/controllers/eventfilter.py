"""PURE: client-go's event spam filter: per (object, type, reason) a burst of 25, then 1 per 5 min.

kube-controller-manager's recorder drops the rest of a flood of same-object events (1,000
SuccessfulCreate for one DaemonSet) before they reach the API server; so do we.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

SPAM_BURST = 25
SPAM_REFILL_SECONDS = 300.0


@dataclass(slots=True, kw_only=True)
class _Bucket:
    tokens: float
    last: float


@dataclass(slots=True, kw_only=True)
class SpamFilter:
    burst: int = SPAM_BURST
    refill_seconds: float = SPAM_REFILL_SECONDS
    _buckets: dict[Hashable, _Bucket] = field(default_factory=dict)

    def allow(self, key: Hashable, *, now: float) -> bool:
        """Whether an event with this key may be written now (takes a token if so)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), last=now)
        refill = max(0.0, now - bucket.last) / self.refill_seconds
        bucket.tokens = min(float(self.burst), bucket.tokens + refill)
        bucket.last = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True
