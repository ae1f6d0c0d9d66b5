"""Expectations: do not act on a DaemonSet again until the cache shows our own writes.

A count of creates and the uids of deletes, set before the writes are sent and settled by the
pod informer's events (client-go ControllerExpectations / UIDTrackingControllerExpectations);
an expectation older than the timeout is dropped so a lost event cannot stall a DaemonSet.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TIMEOUT = 300.0


@dataclass(slots=True, kw_only=True)
class _Expectation:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    deadline: float = 0.0


@dataclass(slots=True, kw_only=True)
class Expectations:
    timeout: float = EXPECTATIONS_TIMEOUT
    _by_key: dict[Hashable, _Expectation] = field(default_factory=dict)

    def expect(self, key: Hashable, *, adds: int, deletes: Iterable[str], now: float) -> None:
        exp = self._by_key.setdefault(key, _Expectation())
        exp.adds += adds
        exp.deletes.update(deletes)
        exp.deadline = now + self.timeout

    def lower_adds(self, key: Hashable, count: int) -> None:
        """Creates that failed or were skipped: they will never be observed."""
        exp = self._by_key.get(key)
        if exp is not None:
            exp.adds = max(0, exp.adds - count)

    def created(self, key: Hashable) -> None:
        """The cache showed a new pod controlled by key's DaemonSet."""
        self.lower_adds(key, 1)

    def gone(self, uid: str) -> None:
        """The cache showed the pod with this uid deleted or terminating (or a delete failed)."""
        for exp in self._by_key.values():
            exp.deletes.discard(uid)

    def satisfied(self, key: Hashable, now: float) -> bool:
        exp = self._by_key.get(key)
        if exp is None:
            return True
        if (exp.adds <= 0 and not exp.deletes) or now > exp.deadline:
            del self._by_key[key]
            return True
        return False

    def forget(self, key: Hashable) -> None:
        self._by_key.pop(key, None)

    def __bool__(self) -> bool:
        return bool(self._by_key)
