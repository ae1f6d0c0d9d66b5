"""The checkpoint's file: 0600 in a 0700 state dir, and an older looser one tightened."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from nodeagent.agent.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint

POD = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": []}}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_saved_checkpoint_is_private_under_any_umask(tmp_path: Path) -> None:
    """Pod specs carry env values: the file is 0600 and a state dir made for it 0700."""
    state = tmp_path / "state"
    old = os.umask(0)
    try:
        save_checkpoint(state, [POD])
    finally:
        os.umask(old)
    assert _mode(checkpoint_path(state)) == 0o600
    assert _mode(state) == 0o700
    assert load_checkpoint(state) == [POD]


def test_an_older_0644_checkpoint_is_tightened_when_read(tmp_path: Path) -> None:
    """A checkpoint an older version left 0644 is 0600 once the agent reads it."""
    path = checkpoint_path(tmp_path)
    path.write_text(json.dumps({"kind": "NodeagentPodCheckpoint", "version": 1, "pods": [POD]}))
    path.chmod(0o644)
    assert load_checkpoint(tmp_path) == [POD]
    assert _mode(path) == 0o600
