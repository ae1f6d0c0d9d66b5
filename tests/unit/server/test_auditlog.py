"""The audit log's file: JSON lines, 0600, rotation by size, backups kept and expired."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from nodeagent.server.auditlog import AuditLog, open_audit_log


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


def _open(path: Path, **kw: int) -> AuditLog:
    log = open_audit_log(str(path), **{"max_bytes": 0, "backups": 1, **kw})
    assert log is not None
    return log


def _rotate_once(log: AuditLog, path: Path) -> None:
    """Write records until the file rotates (its size drops)."""
    for n in range(1000):
        before = path.stat().st_size if path.exists() else 0
        log.write({"n": n, "pad": "x" * 100})
        if path.stat().st_size < before:
            return
    raise AssertionError("no rotation")


@pytest.mark.usefixtures("open_umask")
def test_records_are_json_lines_in_a_0600_file(tmp_path: Path) -> None:
    """Each write is one line of JSON; the file is 0600 under any umask."""
    path = tmp_path / "logs" / "audit.log"
    log = _open(path)
    log.write({"verb": "create", "user": {"username": "admin"}})
    log.write({"verb": "delete"})
    log.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["verb"] for line in lines] == ["create", "delete"]
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700  # made here, so made private


@pytest.mark.usefixtures("open_umask")
def test_rotation_keeps_maxbackup_private_files(tmp_path: Path) -> None:
    """At maxsize the file becomes audit.log.1, .1 becomes .2; no more than maxbackup kept."""
    path = tmp_path / "audit.log"
    log = _open(path, max_bytes=1000, backups=2)
    for _ in range(4):
        _rotate_once(log, path)
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log", "audit.log.1", "audit.log.2"]
    assert {_mode(p) for p in tmp_path.iterdir()} == {0o600}
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())


def test_backups_older_than_maxage_are_removed_at_rotation(tmp_path: Path) -> None:
    """With maxage 7 days, a rotation removes a backup last written 10 days ago."""
    path = tmp_path / "audit.log"
    log = _open(path, max_bytes=1000, backups=5, max_age_days=7)
    _rotate_once(log, path)
    ten_days_ago = time.time() - 10 * 86_400
    os.utime(tmp_path / "audit.log.1", (ten_days_ago, ten_days_ago))
    _rotate_once(log, path)  # the old .1 becomes .2, too old: removed
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log", "audit.log.1"]


def test_an_existing_looser_log_is_tightened(tmp_path: Path) -> None:
    """An audit.log left 0644 (by hand, by an older version) is 0600 once opened."""
    path = tmp_path / "audit.log"
    path.write_text("")
    path.chmod(0o644)
    _open(path).close()
    assert _mode(path) == 0o600


def test_dash_is_standard_output_and_empty_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'-' writes the lines to standard output (as kube-apiserver's); '' records nothing."""
    log = open_audit_log("-", max_bytes=0, backups=1)
    assert log is not None
    log.write({"verb": "patch"})
    assert json.loads(capsys.readouterr().out) == {"verb": "patch"}
    assert open_audit_log("", max_bytes=0, backups=1) is None


def test_a_failing_disk_is_logged_once_and_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC on every write: the requests go on, one audit_write_failed error is logged."""
    log = _open(tmp_path / "audit.log")

    def full(_fd: int, _data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with capture_logs() as logs:
        for _ in range(3):
            log.write({"verb": "create"})
    monkeypatch.undo()
    log.close()
    assert [(e["event"], e["error"]) for e in logs] == [
        ("audit_write_failed", "[Errno 28] No space left on device")
    ]
