"""The ..data symlink swap: a reader sees one whole version of a volume's files."""

from __future__ import annotations

import os
from pathlib import Path

from nodeagent.agent.atomicwriter import DATA_LINK, write_atomically
from nodeagent.api.projection import FileProjection


def test_first_write_lays_out_versions_and_links(tmp_path: Path) -> None:
    """Files live in a ..<time> directory; ..data points at it; each top name links through."""
    target = tmp_path / "vol"
    files = {
        "a": FileProjection(data=b"1", mode=0o644),
        "d/b": FileProjection(data=b"2", mode=0o600),
    }
    assert write_atomically(target, files) is True
    version = os.readlink(target / DATA_LINK)
    assert version.startswith("..")
    assert (target / version).is_dir()
    assert os.readlink(target / "a") == "..data/a"
    assert os.readlink(target / "d") == "..data/d"
    assert (target / "a").read_bytes() == b"1"
    assert (target / "d" / "b").read_bytes() == b"2"
    assert (target / "d" / "b").stat().st_mode & 0o777 == 0o600
    assert target.stat().st_mode & 0o777 == 0o755


def test_unchanged_is_not_written_again(tmp_path: Path) -> None:
    """Same bytes and modes: no new version (an unchanged ConfigMap costs nothing)."""
    files = {"a": FileProjection(data=b"1", mode=0o644)}
    write_atomically(tmp_path, files)
    version = os.readlink(tmp_path / DATA_LINK)
    assert write_atomically(tmp_path, files) is False
    assert os.readlink(tmp_path / DATA_LINK) == version


def test_change_swaps_and_cleans_up(tmp_path: Path) -> None:
    """A new version replaces the old one whole; a key that went loses its link; the old
    version's directory is removed."""
    write_atomically(tmp_path, {"a": FileProjection(data=b"1", mode=0o644),
                                "b": FileProjection(data=b"x", mode=0o644)})  # fmt: skip
    old = os.readlink(tmp_path / DATA_LINK)
    assert write_atomically(tmp_path, {"a": FileProjection(data=b"2", mode=0o644)}) is True
    assert (tmp_path / "a").read_bytes() == b"2"
    assert not (tmp_path / "b").exists()
    assert not (tmp_path / "b").is_symlink()
    assert not (tmp_path / old).exists()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [DATA_LINK, os.readlink(tmp_path / DATA_LINK), "a"]
    )
