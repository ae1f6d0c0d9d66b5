"""Changes in one directory from inotify(7) via asyncinotify, read on the event loop.

watchdog costs ~0.7 MiB and three threads per agent to tell the file source "something changed
here", which is all it needs (it then rescans the directory). asyncinotify reads the inotify
descriptor on the event loop: no threads. Only events that change the directory's contents are
asked for: opening and reading a manifest (every scan does) is none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from asyncinotify import Inotify, Mask

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
# The directory itself went away (removed, moved or unmounted): the watch is over.
ENDED = Mask.IGNORED | Mask.DELETE_SELF | Mask.MOVE_SELF


class DirectoryWatch:
    """Calls `on_change` from the event loop whenever `directory`'s contents change.

    `gone` turns True when the directory itself is removed or moved (the watch ends then; the
    caller starts a new one when the directory is back). OSError when it cannot be watched."""

    def __init__(
        self, directory: Path, on_change: Callable[[], None], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._inotify = Inotify()
        try:
            self._inotify.add_watch(directory, CHANGES)
        except BaseException:
            self._inotify.close()
            raise
        self.gone = False
        self._on_change = on_change
        self._reader = loop.create_task(self._read(), name=f"inotify {directory}")
        # Closed once the reader is done, so its descriptor leaves the loop before it closes.
        self._reader.add_done_callback(self._close)

    async def _read(self) -> None:
        async for event in self._inotify:
            if event.mask & ENDED:
                self.gone = True
            self._on_change()
            if self.gone:
                return

    def stop(self) -> None:
        self._reader.cancel()

    def _close(self, _reader: asyncio.Task[None]) -> None:
        with contextlib.suppress(OSError):
            self._inotify.close()
