"""Files and directories that hold secrets or state: written 0600, kept in 0700 directories.

One definition, shared by the agent and the server (both import it; it imports neither):
- `write_private(path, data)` replaces a file atomically (a temporary file in the same
  directory, fsync, rename, fsync of the directory) so a crash leaves the old or the new
  content, never a mix; created 0600 (or `mode`, for public files such as certificates);
- `ensure_private_dir(path)` makes a directory 0700, or tightens an existing looser one;
- `tighten_file(path)` takes group and other bits off an existing file (the store, a token
  written by an older version).
Tightening logs the warning `permissions_tightened` naming the path and both modes, as an
operator needs to know that something else may have relied on the looser mode. Modes only ever
lose bits here: a stricter mode an operator chose is kept.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger()

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PUBLIC_FILE = 0o644  # certificates: anyone may read them (kubeadm's ca.crt is 0644 too)
# Directories a mistaken --data-dir or --state-dir may name that must never become 0700: the
# host would stop working for everyone but root. They are left as they are, with a warning.
SYSTEM_DIRS = frozenset(
    Path(p)
    for p in ("/", "/etc", "/home", "/opt", "/root", "/run", "/srv", "/tmp", "/usr", "/var",
              "/var/lib", "/var/log", "/var/run", "/var/tmp")
)  # fmt: skip


def write_private(
    path: Path,
    data: bytes | str,
    *,
    mode: int = PRIVATE_FILE,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Replace `path` with `data`, atomically, created with `mode` (0600 unless public);
    `before_replace` runs between the temporary file's fsync and the rename (a failpoint)."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # A stale temporary file (a crash between open and rename) would keep its old mode under
    # O_TRUNC: remove it, then create afresh with O_EXCL so the mode below is the one it gets.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def ensure_private_dir(path: Path) -> None:
    """`path` exists as a directory that only its owner may enter (0700, or stricter).

    Missing parents are created with the default mode (they are not ours to restrict: e.g.
    /var/lib). An existing directory with group or other bits loses them, with a warning; a
    system directory (/, /var/lib...: a mistaken flag) is left as it is, with a warning.
    """
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if path.resolve() in SYSTEM_DIRS:
        log.warning("permissions_left", path=str(path), reason="a system directory")
        return
    _tighten(path, allowed=PRIVATE_DIR)


def tighten_file(path: Path) -> None:
    """Take group and other bits off an existing file (nothing when it does not exist)."""
    with contextlib.suppress(FileNotFoundError):
        _tighten(path, allowed=PRIVATE_FILE)


def _tighten(path: Path, *, allowed: int) -> None:
    before = stat.S_IMODE(path.stat().st_mode)
    after = before & allowed
    if after == before:
        return
    os.chmod(path, after)
    log.warning(
        "permissions_tightened", path=str(path), mode_before=f"{before:04o}", mode=f"{after:04o}"
    )
