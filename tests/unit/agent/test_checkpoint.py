"""The checkpoint's file: 0600 in a 0700 state dir, an older looser one tightened; checksummed,
so any damage is caught before a pod runs from it."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from nodeagent.agent.checkpoint import (
    CheckpointCorrupt,
    checkpoint_path,
    decode_checkpoint,
    encode_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

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


def _flip_bit_inside(raw: bytes, needle: bytes) -> bytes:
    """`raw` with the lowest bit of the first byte of `needle` flipped (still valid JSON)."""
    at = raw.index(needle)
    return raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :]


SPEC_POD = {
    "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
    "spec": {"containers": [{"name": "c", "image": "localhost/busybox:1"}]},
}


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: _flip_bit_inside(raw, b"busybox"), id="one-bit-in-a-string"),
        pytest.param(lambda raw: raw[: len(raw) // 2], id="truncated"),
        pytest.param(lambda raw: raw[:-40] + b"\xff" * 8 + raw[-32:], id="bytes-flipped"),
        pytest.param(lambda raw: raw.split(b"\n", 1)[0][:-9], id="header-only-cut"),
        pytest.param(lambda raw: b"", id="empty"),
    ],
)
def test_a_damaged_checkpoint_is_never_read(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    """Every damage is caught (the payload's sha256, its size, the JSON): CheckpointCorrupt,
    the file set aside; a one-bit flip inside a string no longer yields a changed spec."""
    save_checkpoint(tmp_path, [SPEC_POD])
    path = checkpoint_path(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointCorrupt):
        load_checkpoint(tmp_path)
    assert not path.exists()
    assert path.with_name(path.name + ".corrupt").exists()


def test_a_version_1_checkpoint_is_still_read(tmp_path: Path) -> None:
    """An older agent's checkpoint (one JSON document, no checksum) keeps its pods running
    across the upgrade."""
    body = {"kind": "NodeagentPodCheckpoint", "version": 1, "pods": [SPEC_POD]}
    checkpoint_path(tmp_path).write_text(json.dumps(body, sort_keys=True))
    assert load_checkpoint(tmp_path) == [SPEC_POD]


def test_the_file_is_a_header_line_then_the_payload(tmp_path: Path) -> None:
    """The header names the payload's sha256 and size (docs/agent.md, "The checkpoint")."""
    save_checkpoint(tmp_path, [SPEC_POD])
    header, payload = checkpoint_path(tmp_path).read_bytes().split(b"\n", 1)
    fields = json.loads(header)
    assert fields["version"] == 2
    assert fields["size"] == len(payload)
    assert fields["sha256"] == hashlib.sha256(payload).hexdigest()
    assert decode_checkpoint(encode_checkpoint([SPEC_POD])) == [SPEC_POD]
