"""The audit log's file: one JSON line per record, rotated by size, 0600 (kube-apiserver's
--audit-log-path, --audit-log-maxsize, --audit-log-maxbackup, --audit-log-maxage).

`open_audit_log(target, ...)` is None for target "" (no audit log), standard output for "-",
else a file. At `max_bytes` the file becomes FILE.1, FILE.1 becomes FILE.2 and so on, keeping
`backups` of them (the names and order of logging.handlers.RotatingFileHandler); with
`max_age_days`, backups older than that are removed at each rotation. Every file is created 0600
and an existing looser one is tightened (nodeagent.privatefiles).

Each record is one os.write of one line on an O_APPEND descriptor, on the caller's thread (the
event loop), as kube-apiserver's log backend blocks too: about 1.5 us to the page cache.
RotatingFileHandler itself costs ~20 us a record (a LogRecord, two stat calls, a seek and a
flush per line; docs/performance.md, "Audit log"), which is why it is not used here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import structlog

from nodeagent.api import jsontext
from nodeagent.privatefiles import PRIVATE_FILE, tighten_file

log = structlog.get_logger()
MIB = 1024 * 1024
DAY_SECONDS = 86_400


class AuditLog(Protocol):
    """Where audit records go."""

    def write(self, event: dict[str, Any]) -> None:
        """Append one record as one JSON line; never raises (a failure is logged)."""

    def close(self) -> None: ...


class _Stdout:
    def write(self, event: dict[str, Any]) -> None:
        sys.stdout.write(jsontext.dumps(event) + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class RotatingAuditFile:
    """FILE and its rotated copies FILE.1 ... FILE.<backups>, all 0600."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int, max_age_days: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.max_age_days = max_age_days
        self._failing = False
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE
        )

    def write(self, event: dict[str, Any]) -> None:
        line = jsontext.dumpb(event) + b"\n"
        try:
            if self.max_bytes and self._size and self._size + len(line) > self.max_bytes:
                self._rotate()
            os.write(self._fd, line)
        except OSError as e:  # a full disk must not fail the request it records
            if not self._failing:  # once per outage, not once per request
                log.error("audit_write_failed", path=str(self.path), error=str(e))
            self._failing = True
            return
        self._failing = False
        self._size += len(line)

    def _rotate(self) -> None:
        os.close(self._fd)
        try:
            for n in range(self.backups - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
        finally:  # a failed rename keeps appending to the same file rather than to nothing
            self._fd = self._open()
            self._size = os.fstat(self._fd).st_size
        if self.max_age_days > 0:
            oldest = time.time() - self.max_age_days * DAY_SECONDS
            for n in range(1, self.backups + 1):
                backup = Path(f"{self.path}.{n}")
                with contextlib.suppress(FileNotFoundError):
                    if backup.stat().st_mtime < oldest:
                        backup.unlink()

    def close(self) -> None:
        os.close(self._fd)


def open_audit_log(
    target: str, *, max_bytes: int, backups: int, max_age_days: int = 0
) -> AuditLog | None:
    """The audit log at `target` ("" none, "-" standard output, else a file path).

    `max_bytes` 0: never rotate. A missing parent directory is made 0700."""
    if not target:
        return None
    if target == "-":
        return _Stdout()
    path = Path(target)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tighten_file(path)
    audit = RotatingAuditFile(path, max_bytes=max_bytes, backups=backups, max_age_days=max_age_days)
    log.info("audit_log_opened", path=str(path), max_bytes=max_bytes, backups=backups)
    return audit
