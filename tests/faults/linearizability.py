"""A small linearizability checker for the fault suite: each object is a register written by
compare-and-swap on its resourceVersion (etcd's robustness suite and Jepsen's Knossos check the
same model; resourceVersions make it cheap, since every write names the version it replaces).

A history is a list of Op, each a read or a CAS write of one key with its real-time interval;
a write the client got no answer for (the server was killed) has outcome "unknown": it may or
may not have happened. `check(history, initial, final)` returns the violations (empty: the
history is linearizable), checking per key:
- every write that took effect (acknowledged, or unknown but read later) replaced the version
  it named, and no two replaced the same one (no lost update): they form one chain from the
  created version, with resourceVersions that only go up;
- every read returned a version of that chain, with the value its write wrote;
- real time: an operation that ended before another began is not later in the chain;
- the final read, after every fault, is the chain's last version: nothing acknowledged is lost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

Kind = Literal["read", "write"]
Outcome = Literal["ok", "failed", "unknown"]  # failed: definitely not applied (a 409)


@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    rv: int
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    client: int
    key: str
    kind: Kind
    start: float
    end: float  # when the answer came (or the client gave up, for "unknown")
    outcome: Outcome
    value: str = ""  # write: the value written; read: the value read
    rv: int = 0  # write: the new resourceVersion (ok); read: the version read
    expected_rv: int = 0  # write: the precondition


def check(
    history: list[Op], *, initial: dict[str, Version], final: dict[str, Version]
) -> list[str]:
    """Every violation of the register-with-CAS model in `history`, per key."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    problems: list[str] = []
    for key in sorted(initial):
        problems += [f"{key}: {p}" for p in _check_key(by_key[key], initial[key], final[key])]
    return problems


def _check_key(ops: list[Op], initial: Version, final: Version) -> list[str]:
    problems: list[str] = []
    reads = [op for op in ops if op.kind == "read" and op.outcome == "ok"]
    seen_rv_of_value = {op.value: op.rv for op in reads}
    if final.value not in seen_rv_of_value:
        seen_rv_of_value[final.value] = final.rv
    # writes that took effect: acknowledged ones, and unknown ones that someone read
    effective: dict[int, Op] = {}  # new rv -> write
    for op in ops:
        if op.kind != "write":
            continue
        if op.outcome == "ok":
            rv = op.rv
        elif op.outcome == "unknown" and op.value in seen_rv_of_value:
            rv = seen_rv_of_value[op.value]
        else:
            continue
        if rv in effective:
            problems.append(f"two writes produced resourceVersion {rv}")
        effective[rv] = op
    successor: dict[int, int] = {}
    for rv, op in sorted(effective.items()):
        if op.expected_rv in successor:
            problems.append(
                f"writes {successor[op.expected_rv]} and {rv} both replaced version "
                f"{op.expected_rv}: an update was lost"
            )
            continue
        successor[op.expected_rv] = rv
    chain = [initial]
    position = {initial.rv: 0}
    while chain[-1].rv in successor:
        rv = successor[chain[-1].rv]
        if rv <= chain[-1].rv:
            problems.append(f"resourceVersion went back: {chain[-1].rv} then {rv}")
            break
        chain.append(Version(rv=rv, value=effective[rv].value))
        position[rv] = len(chain) - 1
    for rv, op in effective.items():
        if rv not in position:
            problems.append(
                f"the write of {op.value!r} (version {rv}, replacing {op.expected_rv}) is not "
                "in the object's history"
            )
    for op in reads:
        if op.rv not in position:
            problems.append(f"read version {op.rv} ({op.value!r}), which no write made")
        elif (held := chain[position[op.rv]].value) != op.value:
            problems.append(f"read {op.value!r} at version {op.rv}, which holds {held!r}")
    if final != chain[-1]:
        problems.append(f"final state {final} is not the last write {chain[-1]}: a write was lost")
    problems += _real_time(ops, position)
    return problems


def _real_time(ops: list[Op], position: dict[int, int]) -> list[str]:
    """An operation that ended before another began may not sit later in the chain."""
    # answered reads and acknowledged writes have a place in the chain; the rest do not
    placed = [(op, position[op.rv]) for op in ops if op.outcome == "ok" and op.rv in position]
    by_end = sorted(placed, key=lambda item: item[0].end)
    by_start = sorted(placed, key=lambda item: item[0].start)
    problems: list[str] = []
    latest: tuple[Op, int] | None = None
    i = 0
    for op, pos in by_start:
        while i < len(by_end) and by_end[i][0].end < op.start:
            if latest is None or by_end[i][1] > latest[1]:
                latest = by_end[i]
            i += 1
        if latest is not None and pos < latest[1]:
            problems.append(
                f"client {op.client}'s {op.kind} saw version {op.rv} after client "
                f"{latest[0].client}'s {latest[0].kind} of a later one ({latest[0].rv}) had ended"
            )
    return problems
