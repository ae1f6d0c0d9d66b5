"""The reporter's per-second measure reads only the signals: node facts and mounts are reused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodeagent.agent.conditions import Signal
from nodeagent.agent.stats import Measurement, measure


def test_a_tick_reuses_facts_and_the_mount_table(tmp_path: Path) -> None:
    """Given the facts and a mounts memo, measure returns those facts and names the device the
    memo holds, while the signals themselves are read afresh."""
    memo: dict[str, tuple[str, str]] = {}

    def look(**kw: Any) -> Measurement:
        return measure(
            node_name="n1",
            state_dir=str(tmp_path),
            imagefs_path=None,
            server_url=None,
            runtime_info={},
            mounts=memo,
            **kw,
        )

    full = look()
    assert str(tmp_path) in memo  # the lookup was kept
    memo[str(tmp_path)] = ("/", "remembered-device")
    tick = look(facts=full.facts)
    assert tick.facts is full.facts
    nodefs = tick.observations[Signal.NODEFS_AVAILABLE]
    assert nodefs.where == f"{tmp_path} (remembered-device)"
    assert tick.observations[Signal.MEMORY_AVAILABLE].available > 0
