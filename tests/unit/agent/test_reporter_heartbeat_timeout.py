"""The heartbeat client's timeout follows kubelet's rule: the shorter of the lease duration
(40 s) and the status update interval."""

from __future__ import annotations

from nodeagent.agent.reporter import LEASE_DURATION_SECONDS, heartbeat_timeout


def test_the_status_update_interval_bounds_a_heartbeat() -> None:
    assert heartbeat_timeout(10.0) == 10.0  # kubelet's defaults: 10 s
    assert heartbeat_timeout(2.0) == 2.0  # a fleet heartbeating every 2 s gives up in 2 s


def test_the_lease_duration_bounds_a_long_interval() -> None:
    assert heartbeat_timeout(300.0) == LEASE_DURATION_SECONDS
