"""The suite's linearizability checker finds what it must (a lost update, a lost acknowledged
write, a stale read, a version going back) and accepts unknown outcomes either way."""

from __future__ import annotations

from tests.faults.linearizability import Op, Version, check

START = Version(rv=10, value="v0")


def write(value: str, expected: int, rv: int, start: float, end: float, **kw: object) -> Op:
    outcome = kw.get("outcome", "ok")
    assert outcome in ("ok", "failed", "unknown")
    return Op(
        client=int(str(kw.get("client", 1))),
        key="k",
        kind="write",
        start=start,
        end=end,
        outcome=outcome,
        value=value,
        rv=rv,
        expected_rv=expected,
    )


def read(value: str, rv: int, start: float, end: float, client: int = 2) -> Op:
    return Op(
        client=client, key="k", kind="read", start=start, end=end, outcome="ok", value=value, rv=rv
    )


def verdict(history: list[Op], final: Version) -> list[str]:
    return check(history, initial={"k": START}, final={"k": final})


def test_a_linearizable_history_passes() -> None:
    history = [
        read("v0", 10, 0, 1),
        write("a", 10, 11, 1, 2),
        read("a", 11, 3, 4),
        write("b", 11, 0, 4, 6, outcome="unknown"),  # the server died: applied, as read shows
        read("b", 15, 7, 8),
        write("c", 15, 0, 8, 9, outcome="unknown"),  # never applied: nobody read it
        write("d", 10, 0, 9, 10, outcome="failed"),
    ]
    assert verdict(history, Version(rv=15, value="b")) == []


def test_two_writes_from_one_version_is_a_lost_update() -> None:
    history = [write("a", 10, 11, 0, 1), write("b", 10, 12, 0, 1, client=3)]
    assert any("an update was lost" in p for p in verdict(history, Version(rv=12, value="b")))


def test_an_acknowledged_write_missing_at_the_end_is_lost() -> None:
    history = [write("a", 10, 11, 0, 1)]
    assert any("a write was lost" in p for p in verdict(history, START))


def test_a_stale_read_after_a_write_ended_is_not_linearizable() -> None:
    history = [write("a", 10, 11, 0, 1), read("v0", 10, 2, 3)]
    assert any("saw version 10" in p for p in verdict(history, Version(rv=11, value="a")))


def test_a_version_that_goes_back_is_reported() -> None:
    history = [write("a", 10, 9, 0, 1)]
    assert any("went back" in p for p in verdict(history, Version(rv=9, value="a")))
