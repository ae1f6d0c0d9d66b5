"""A tmpfs per secret volume, so a Secret's value never reaches the disk (as kubelet mounts
secret volumes), and their unmounting when the pod's directory goes.

mount(2) and umount2(2) through libc (no helper binary); they need CAP_SYS_ADMIN in the host's
mount namespace, which the agent has as root. Where mounting is refused, the caller keeps the
volume on the state dir's disk (docs/security.md, "Secrets on the host"). Blocking: call in a
thread.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(target: Path) -> OSError | None:
    """Mount an empty tmpfs (0755, nosuid, nodev, noexec) on `target`; the error if refused."""
    target.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(target):
        return None
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    if _libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", flags, b"mode=0755") != 0:
        errno = ctypes.get_errno()
        return OSError(errno, os.strerror(errno), str(target))
    return None


def _mountinfo_paths() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        # field 5 is the mount point, with spaces and the like as octal escapes
        return [line.split()[4].encode().decode("unicode_escape") for line in f if line.strip()]


def unmount_under(directory: Path) -> None:
    """Lazily unmount every mount at or below `directory`, deepest first."""
    prefix = str(directory).rstrip("/") + "/"
    points = [p for p in _mountinfo_paths() if p.startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        _libc.umount2(os.fsencode(point), _MNT_DETACH)
