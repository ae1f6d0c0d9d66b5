"""Private files and directories: 0600 files written atomically, 0700 directories, tightening."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from nodeagent.privatefiles import PUBLIC_FILE, ensure_private_dir, tighten_file, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask of 0, so a mode that is right was chosen by the code, not by the umask."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_a_written_file_is_0600_and_replaces_the_old_one(tmp_path: Path) -> None:
    """write_private creates 0600 under any umask; a second write replaces the content."""
    path = tmp_path / "token"
    write_private(path, "one\n")
    write_private(path, b"two\n")
    assert path.read_text() == "two\n"
    assert _mode(path) == 0o600
    assert os.listdir(tmp_path) == ["token"]  # no temporary file left behind


@pytest.mark.usefixtures("open_umask")
def test_a_public_file_gets_the_mode_asked_for(tmp_path: Path) -> None:
    """Certificates are written through the same helper, 0644."""
    write_private(tmp_path / "ca.crt", b"pem", mode=PUBLIC_FILE)
    assert _mode(tmp_path / "ca.crt") == 0o644


@pytest.mark.usefixtures("open_umask")
def test_a_stale_temporary_file_does_not_lend_its_mode(tmp_path: Path) -> None:
    """A temporary file left 0666 by a crash is not reused with its mode."""
    stale = tmp_path / f".key.{os.getpid()}.tmp"
    stale.write_text("old")
    stale.chmod(0o666)
    write_private(tmp_path / "key", "secret")
    assert _mode(tmp_path / "key") == 0o600


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error before the rename leaves the old content and no temporary file."""
    path = tmp_path / "checkpoint"
    write_private(path, "old")

    def broken_fsync(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        write_private(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["checkpoint"]


@pytest.mark.usefixtures("open_umask")
def test_a_new_directory_is_0700_without_a_warning(tmp_path: Path) -> None:
    """A missing directory (and its parents) is made; the directory itself is 0700."""
    path = tmp_path / "var" / "state"
    with capture_logs() as logs:
        ensure_private_dir(path)
    assert _mode(path) == 0o700
    assert logs == []


def test_a_looser_directory_is_tightened_with_a_warning(tmp_path: Path) -> None:
    """An existing 0755 directory becomes 0700; the warning names the path and both modes."""
    path = tmp_path / "data"
    path.mkdir()
    path.chmod(0o755)
    with capture_logs() as logs:
        ensure_private_dir(path)
    assert _mode(path) == 0o700
    assert logs == [
        {
            "event": "permissions_tightened",
            "log_level": "warning",
            "path": str(path),
            "mode_before": "0755",
            "mode": "0700",
        }
    ]


def test_a_stricter_directory_is_left_alone(tmp_path: Path) -> None:
    """0500 chosen by an operator stays 0500: modes only lose bits."""
    path = tmp_path / "ro"
    path.mkdir()
    path.chmod(0o500)
    with capture_logs() as logs:
        ensure_private_dir(path)
    assert _mode(path) == 0o500
    assert logs == []
    path.chmod(0o700)


def test_tighten_file_takes_group_and_other_bits(tmp_path: Path) -> None:
    """A 0644 file becomes 0600 with a warning; a missing file is no error."""
    path = tmp_path / "store.db"
    path.write_text("x")
    path.chmod(0o644)
    with capture_logs() as logs:
        tighten_file(path)
        tighten_file(tmp_path / "store.db-wal")
    assert _mode(path) == 0o600
    assert [(e["path"], e["mode_before"], e["mode"]) for e in logs] == [(str(path), "0644", "0600")]


def test_a_system_directory_is_never_tightened() -> None:
    """--state-dir / (a mistake) leaves / as it is, with a warning naming it."""
    before = stat.S_IMODE(Path("/").stat().st_mode)
    with capture_logs() as logs:
        ensure_private_dir(Path("/"))
    assert stat.S_IMODE(Path("/").stat().st_mode) == before
    assert logs == [
        {"event": "permissions_left", "log_level": "warning", "path": "/",
         "reason": "a system directory"}
    ]  # fmt: skip
