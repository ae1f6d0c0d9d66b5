"""How scripts/test.sh shares the suite out over xdist workers (tests/support/parallel.py):
the e2e modules are one group (one fleet), the two host-pressure modules another, every other
module a group of its own; the schemathesis runs, then the e2e group, then the fault tests
are handed out first."""

from __future__ import annotations

from tests.support.parallel import SCHEMATHESIS, group_of, host_pressure_kept, rank


def test_the_e2e_modules_are_one_group_and_other_modules_their_own() -> None:
    e2e = {group_of(f"tests/e2e/{m}") for m in ("test_partition.py", "test_delete.py")}
    assert e2e == {"e2e"}
    faults = "tests/faults/test_agent_crash.py"
    assert group_of(faults) == faults
    pressure = {
        "tests/faults/test_agent_pressure.py",
        "tests/integration/agent_server/test_pressure.py",
    }
    assert {group_of(path) for path in pressure} == {"host-pressure"}
    assert group_of("tests/unit/api/test_quantity.py") == "tests/unit/api/test_quantity.py"


def test_schemathesis_then_e2e_with_its_partitions_last_then_faults_then_the_rest() -> None:
    paths = [
        "tests/unit/api/test_quantity.py",
        "tests/faults/test_agent_crash.py",
        "tests/integration/server/test_crud.py",
        "tests/e2e/test_partition.py",
        "tests/e2e/test_rollout_guard.py",
        SCHEMATHESIS,
    ]
    assert sorted(paths, key=rank) == [
        SCHEMATHESIS,
        "tests/e2e/test_rollout_guard.py",
        "tests/e2e/test_partition.py",  # last in its group, well after the schemathesis runs
        "tests/faults/test_agent_crash.py",
        "tests/unit/api/test_quantity.py",
        "tests/integration/server/test_crud.py",
    ]


def test_the_host_pressure_modules_run_alone_after_the_rest() -> None:
    """scripts/test.sh's two phases: "skip" runs everything but the host-pressure modules
    (on the workers), "only" runs just those (in one process, nothing beside them)."""
    pressure, other = "tests/faults/test_agent_pressure.py", "tests/faults/test_agent_crash.py"
    assert [host_pressure_kept(p, "skip") for p in (pressure, other)] == [False, True]
    assert [host_pressure_kept(p, "only") for p in (pressure, other)] == [True, False]
    assert [host_pressure_kept(p, "") for p in (pressure, other)] == [True, True]
