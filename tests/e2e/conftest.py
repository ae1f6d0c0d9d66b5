"""Fixtures for the many-host tests: one fleet per session (server + 3 hosts), logs on failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator

import pytest

from tests.e2e.harness import Fleet, new_fleet

IMAGE = "localhost/busybox:1"


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
        fleet.start(hosts=3, node_monitor_grace="12s")
        yield fleet
    finally:
        fleet.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach the tail of every agent's log and the server's log to the report."""
    report = yield
    fleet = getattr(item, "funcargs", {}).get("fleet")
    if report.failed and isinstance(fleet, Fleet):
        for title, text in fleet.diagnostics():
            report.sections.append((title, text))
    return report
