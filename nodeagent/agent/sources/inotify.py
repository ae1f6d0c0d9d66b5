"""Changes in one directory from inotify(7), read on the event loop: no threads, no watchdog.

watchdog costs ~0.7 MiB and three threads per agent to tell the file source "something changed
here", which is all it needs (it then rescans the directory). Only events that change the
directory's contents are asked for: opening and reading a manifest (every scan does) is none.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import os
import struct
from collections.abc import Callable
from pathlib import Path


class Mask(enum.IntFlag):
    """inotify event bits (linux/inotify.h)."""

    MODIFY = 0x00000002
    ATTRIB = 0x00000004
    CLOSE_WRITE = 0x00000008
    MOVED_FROM = 0x00000040
    MOVED_TO = 0x00000080
    CREATE = 0x00000100
    DELETE = 0x00000200
    DELETE_SELF = 0x00000400
    MOVE_SELF = 0x00000800
    IGNORED = 0x00008000  # the watch is gone (the directory was removed or unmounted)


# Every event that can change what a scan of the directory reads; none for open/read/close.
CHANGES = (
    Mask.MODIFY
    | Mask.ATTRIB
    | Mask.CLOSE_WRITE
    | Mask.MOVED_FROM
    | Mask.MOVED_TO
    | Mask.CREATE
    | Mask.DELETE
    | Mask.DELETE_SELF
    | Mask.MOVE_SELF
)
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


def event_masks(data: bytes) -> list[int]:
    """The mask of each event in one read() of an inotify descriptor."""
    masks, offset = [], 0
    while offset + EVENT_HEADER.size <= len(data):
        _wd, mask, _cookie, length = EVENT_HEADER.unpack_from(data, offset)
        masks.append(mask)
        offset += EVENT_HEADER.size + length
    return masks


class DirectoryWatch:
    """Calls `on_change` from the event loop whenever `directory`'s contents change.

    `gone` turns True when the directory itself is removed or moved (the watch ends then; the
    caller starts a new one when the directory is back)."""

    def __init__(
        self, directory: Path, on_change: Callable[[], None], loop: asyncio.AbstractEventLoop
    ) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), "inotify_init1")
        if libc.inotify_add_watch(fd, os.fsencode(directory), int(CHANGES)) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, os.strerror(err), str(directory))
        self.fd, self.gone = fd, False
        self._on_change, self._loop = on_change, loop
        loop.add_reader(fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 64 * 1024)
        except BlockingIOError:
            return
        masks = event_masks(data)
        if any(m & (Mask.IGNORED | Mask.DELETE_SELF | Mask.MOVE_SELF) for m in masks):
            self.stop()
            self.gone = True
        if masks:
            self._on_change()

    def stop(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
