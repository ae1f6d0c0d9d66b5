"""Changes in the manifest directory, from a watchdog observer, told to the event loop.

inotify through watchdog's InotifyObserver, asking only for the events that change what a scan
reads (watchdog's event filter: opening and reading a manifest, which every scan does, is none).
When inotify cannot serve (its watch or instance limit reached, a kernel or C library without
it), or when the setting asks for it, watchdog's PollingObserver compares the directory's
listing and stat every second instead: the caller is told why (`PollingReason`), to say so.

The observer's threads only hand each event to the loop (`call_soon_threadsafe`); everything
else runs on the loop. Events for names the source does not read (an editor's `.x.swp`, a
`x.yaml.tmp` about to be renamed) wake nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog import events as fs
from watchdog.observers.api import BaseObserver

from nodeagent.agent.sources.manifest import is_manifest_name

POLL_SECONDS = 1.0  # the polling observer's interval (watchdog's default)
# What can change a scan's result: content, mode (a Secret file's 0600), names. Not opened
# or closed-without-writing (every scan opens and reads each file).
WATCHED_EVENTS: list[type[fs.FileSystemEvent]] = [
    fs.FileCreatedEvent,
    fs.FileModifiedEvent,
    fs.FileAttribEvent,
    fs.FileClosedEvent,
    fs.FileDeletedEvent,
    fs.FileMovedEvent,
    fs.DirDeletedEvent,  # the directory itself removed or moved away: the watch is over
    fs.DirMovedEvent,
    fs.EventsLostEvent,  # the kernel's queue overflowed: rescan
]
# A write under way: more may follow until the writer closes the file.
IN_PLACE_WRITES = (fs.FileCreatedEvent, fs.FileModifiedEvent)
# the directory itself cannot be watched, by inotify or by polling
DIRECTORY_ERRORS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM})
# errno of a failed inotify_init / inotify_add_watch -> why polling instead. Rules as data.
INOTIFY_ERRORS = {
    errno.EMFILE: "the inotify instance limit is reached (fs.inotify.max_user_instances)",
    errno.ENOSPC: "the inotify watch limit is reached (fs.inotify.max_user_watches)",
    errno.ENOSYS: "the kernel has no inotify",
    errno.EOPNOTSUPP: "the filesystem does not support inotify",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PollingReason:
    """Why the directory is polled: asked for by the setting, or what stopped inotify."""

    forced: bool
    message: str


def inotify_failure(error: OSError) -> str:
    """What stopped inotify, in words an operator can act on."""
    known = INOTIFY_ERRORS.get(error.errno or 0)
    return known or f"inotify is not available here: {error.strerror or error}"


def _inotify_observer() -> BaseObserver:
    """watchdog's inotify observer, reporting a rename from outside as a move (not a create)."""
    from watchdog.observers.inotify import InotifyObserver
    from watchdog.utils import UnsupportedLibcError

    try:
        return InotifyObserver(generate_full_events=True)
    except UnsupportedLibcError as e:  # a C library without inotify_init
        raise OSError(errno.ENOSYS, str(e)) from e


def _polling_observer() -> BaseObserver:
    """watchdog's polling observer (imported only where inotify cannot serve: 0.1 MiB)."""
    from watchdog.observers.polling import PollingObserver

    return PollingObserver(timeout=POLL_SECONDS)


class _Forward(fs.FileSystemEventHandler):
    """On the observer's thread: hand every event to the loop, nothing more."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seen: Callable[[fs.FileSystemEvent], None]
    ) -> None:
        self._loop = loop
        self._seen = seen

    def on_any_event(self, event: fs.FileSystemEvent) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while the observer stopped
            self._loop.call_soon_threadsafe(self._seen, event)


class DirectoryWatch:
    """Calls `on_change` on the event loop whenever a manifest in `directory` may have changed.

    `writing`: names written in place (created or modified, not yet closed) since the caller
    last cleared it; a rename into the directory, a close after writing or a removal leaves a
    name complete. `gone` turns True when the directory itself is removed or moved (the watch
    is over; the caller starts a new one when it is back). `polling` says why the directory
    is polled, or None for inotify. OSError when the directory cannot be watched at all (it
    is missing, or not readable)."""

    def __init__(
        self,
        directory: Path,
        on_change: Callable[[], None],
        loop: asyncio.AbstractEventLoop,
        *,
        force_polling: bool = False,
    ) -> None:
        self.directory = directory
        self.identity = _identity(directory)
        self.gone = False
        self.writing: set[str] = set()
        self.polling: PollingReason | None = None
        self._on_change = on_change
        handler = _Forward(loop, self._seen)
        if force_polling:
            self.polling = PollingReason(forced=True, message="the setting asks for polling")
        else:
            try:
                self._observer = _started(_inotify_observer(), handler, directory)
                return
            except OSError as e:
                if e.errno in DIRECTORY_ERRORS:
                    raise  # polling cannot read it either
                self.polling = PollingReason(forced=False, message=inotify_failure(e))
        self._observer = _started(_polling_observer(), handler, directory)

    def _seen(self, event: fs.FileSystemEvent) -> None:
        """On the loop: note a write under way, and wake the source for a manifest's change."""
        if event.is_directory:
            if os.fsdecode(event.src_path) == str(self.directory):
                self.gone = True
                self._on_change()
            return  # a subdirectory: never read
        paths = [os.fsdecode(event.src_path), os.fsdecode(event.dest_path)]
        names = [p for p in paths if p and is_manifest_name(os.path.basename(p))]
        if not names and not isinstance(event, fs.EventsLostEvent):
            return
        if isinstance(event, IN_PLACE_WRITES):
            self.writing.update(names)
        else:
            self.writing.difference_update(names)
        self._on_change()

    def moved_or_gone(self) -> bool:
        """The watched directory is gone, or another directory now has its path."""
        return self.gone or _identity(self.directory) != self.identity

    def stop(self) -> None:
        """Stop the observer's threads (they end on their own shortly; not waited for)."""
        self._observer.stop()


def _started(observer: BaseObserver, handler: _Forward, directory: Path) -> BaseObserver:
    """The observer running and watching `directory`; OSError (stopped) when it cannot."""
    observer.start()  # started first, so a watch that cannot be set up fails in schedule()
    try:
        observer.schedule(handler, str(directory), event_filter=WATCHED_EVENTS)
    except BaseException:
        observer.stop()
        raise
    return observer


def _identity(directory: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(directory)
    except OSError:
        return None
    return st.st_dev, st.st_ino
