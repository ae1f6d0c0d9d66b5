"""Fixtures for the many-host tests: one fleet per session (server + 3 hosts), logs on failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator

import pytest

from tests.e2e.harness import Fleet, new_fleet

IMAGE = "localhost/busybox:1"
GRACE_SECONDS = 12  # the shared fleet's --node-monitor-grace-period
REAL_DURATIONS = os.environ.get("NODEAGENT_FAULT_REAL_DURATIONS") == "1"


def _can_run() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "podman", "nsenter"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The server, a tainted control-plane host `master` and workers node1, node2, all Ready.

    Tests share it: each uses its own DaemonSet names and leaves the fleet as it found it.
    The node-monitor grace period is 12 s (heartbeats every 2 s), so a partition shows soon
    while a loaded machine does not make nodes flap.
    """
    reason = _can_run()
    if reason:
        pytest.skip(reason)
    fleet = new_fleet(tmp_path_factory.mktemp("fleet"), IMAGE)
    try:
        fleet.start(hosts=3, node_monitor_grace=f"{GRACE_SECONDS}s")
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture(scope="module")
def timed_fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Fleet, float]]:
    """(fleet, its grace in seconds) for the partition cases, whose durations are Kubernetes'
    (a 40 s grace) scaled by grace / 40: the shared fleet (12 s), or with
    NODEAGENT_FAULT_REAL_DURATIONS=1 a fleet of its own with Kubernetes' timings (a 40 s
    grace, leases and status every 10 s), where the cases run at their real durations."""
    if not REAL_DURATIONS:
        yield request.getfixturevalue("fleet"), float(GRACE_SECONDS)
        return
    reason = _can_run()
    if reason:
        pytest.skip(reason)
    fleet = new_fleet(tmp_path_factory.mktemp("fleet40"), IMAGE)
    fleet.agent_config = "leaseInterval: 10\nstatusUpdateInterval: 10\nfileCheckInterval: 5\n"
    try:
        fleet.start(hosts=3, node_monitor_grace="40s")
        yield fleet, 40.0
    finally:
        fleet.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach the tail of every agent's log and the server's log to the report."""
    report = yield
    fleet = getattr(item, "funcargs", {}).get("fleet")
    timed = getattr(item, "funcargs", {}).get("timed_fleet")
    if isinstance(timed, tuple):
        fleet = timed[0]
    if report.failed and isinstance(fleet, Fleet):
        for title, text in fleet.diagnostics():
            report.sections.append((title, text))
    return report
