"""How the whole suite shares out over pytest-xdist workers (scripts/test.sh: `-n 2`): which
tests must run one after another on one worker, and in what order the groups are handed out.
tests/conftest.py installs the scheduler (in the xdist controller) and the order (in each
worker, which sorts what it collected; every worker sorts alike).

A group runs whole on one worker, its tests in order; groups go to whichever worker is free.
Every test module is a group of its own, so a module's module-scoped fixtures (its servers,
clusters, agents) are made once, as in a serial run. Bigger groups, and why:

- tests/e2e: one fleet for the session (a server and three hosts in network namespaces, the
  `fleet` fixture), which its tests share one at a time: one cuts a host's link, another
  counts a DaemonSet's pods on every node. Apart, every worker would make a fleet of its own.
- host pressure: tests/faults/test_agent_pressure.py and
  tests/integration/agent_server/test_pressure.py take the whole host's memory (stress-ng, a
  bytes hog) and PIDs (hundreds of sleepers) to cross thresholds they set from what the host
  has free: side by side, one's hog or sleepers would cross the other's thresholds. They
  also run with nothing beside them: scripts/test.sh deselects them on the workers and runs
  them after, in one process (HOST_PRESSURE_ENV): a worker freeing a GiB while a hog held
  lifted the pressure early.

The groups are handed out in this order: the schemathesis runs first (they start as their
module's fixture is set up, and take about 100 s of CPU while the worker waits for their
verdicts), then the e2e group, the longest (about 8 minutes), then the fault tests, then the
rest in collection order. Inside the e2e group the partition cases go last: their cuts are
timed against the fleet's 12 s grace, and under the schemathesis runs (both cores for a
minute or two) node1's lease renewal missed it twice, once in one process (the agent's
heartbeat timeout, since made kubelet's, was the cause: docs/node-status.md).

The groups are computed from the test ids by the scheduler, not with `xdist_group` marks:
`--dist loadgroup` reads those from a suffix it appends to each test id, which pytest 9.2
no longer takes (pytest-dev/pytest-xdist#1386: the marks are silently ignored).
"""

from __future__ import annotations

from typing import Any

SCHEMATHESIS = "tests/integration/server/test_schemathesis.py"
SERIAL = {
    "tests/e2e/": "e2e",
    "tests/faults/test_agent_pressure.py": "host-pressure",
    "tests/integration/agent_server/test_pressure.py": "host-pressure",
}
ORDER = (SCHEMATHESIS, "tests/e2e/", "tests/faults/")
LAST_IN_GROUP = ("tests/e2e/test_partition.py",)


HOST_PRESSURE_ENV = "NODEAGENT_HOST_PRESSURE"  # "skip" or "only": scripts/test.sh's two phases


def host_pressure_kept(path: str, phase: str) -> bool:
    """Whether module `path` runs in `phase` (HOST_PRESSURE_ENV's value; "" runs everything).
    The host-pressure modules run alone, after the rest: a hog sized to cross a threshold set
    from the host's free memory stops crossing it when another worker frees a GiB meanwhile."""
    pressure = group_of(path) == "host-pressure"
    if phase == "skip":
        return not pressure
    if phase == "only":
        return pressure
    return True


def group_of(path: str) -> str:
    """The group of the tests in module `path` (relative to the checkout, with /)."""
    for prefix, group in SERIAL.items():
        if path.startswith(prefix):
            return group
    return path


def rank(path: str) -> tuple[int, bool]:
    """Where module `path`'s tests go in the queue: lower first (its group's place, then
    whether it goes last in its group)."""
    place = next((i for i, prefix in enumerate(ORDER) if path.startswith(prefix)), len(ORDER))
    return place, path in LAST_IN_GROUP


def scheduler(config: Any, log: Any) -> Any:
    """xdist's per-scope scheduling with group_of's groups as the scopes, handed out in the
    order the workers collected the tests (rank's, never re-sorted by size). xdist is imported
    here, in the controller only: a venv made before it joined the test extras still runs
    pytest without it."""
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid.split("::", 1)[0])

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)
