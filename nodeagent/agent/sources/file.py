"""The manifest directory source: static pods from files, watched (dirwatch.py) plus a full rescan.

A file may carry ConfigMaps and Secrets beside its Pod or DaemonSet; they are sent with the set
(`SourceUpdate.objects`, by file) and serve that file's pods only. A file with a Secret is read
only if its mode is 0600 (or tighter): otherwise it is that file's error.

What a file's text asks for is manifest.py's (PURE); the DirectorySource class holds the last
good pods per file and does the I/O. A file that stops parsing keeps the pods it gave before
and is reported; a removed file takes its pods with it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from nodeagent.agent.sources.dirwatch import DirectoryWatch, PollingReason
from nodeagent.agent.sources.manifest import (
    Parsed,
    is_manifest_name,
    parse_manifest,
    secret_mode_error,
)
from nodeagent.agent.sources.update import Rejected, SourceName, SourceUpdate
from nodeagent.api.bodies import Obj
from nodeagent.api.limits import MAX_MANIFEST_BYTES

log = structlog.get_logger()


def _read_manifest(path: Path) -> str:
    """The file's text; OSError past MAX_MANIFEST_BYTES (kubelet's maxConfigLength)."""
    with path.open("rb") as f:
        data = f.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise OSError(f"the file is larger than {MAX_MANIFEST_BYTES} bytes")
    return data.decode("utf-8")


@dataclass(slots=True, kw_only=True)
class DirectorySource:
    """Reads the manifest directory; keeps each file's last good pods."""

    directory: Path
    node: Obj
    last_good: dict[str, tuple[Obj, ...]] = field(default_factory=dict)
    last_objects: dict[str, tuple[Obj, ...]] = field(default_factory=dict)  # ConfigMaps, Secrets
    _reported: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # origin -> (the text last read, what it parsed to): an unchanged file is not parsed again
    _parsed: dict[str, tuple[str, Parsed]] = field(default_factory=dict)

    def scan(self) -> SourceUpdate:
        """Read every manifest file now: the complete SET of this source.

        An unreadable directory gives an empty SET (as kubelet: a missing path is no error)."""
        try:
            names = sorted(n for n in os.listdir(self.directory) if is_manifest_name(n))
        except FileNotFoundError:
            names = []
        except OSError as e:
            log.warning("manifest_dir_unreadable", path=str(self.directory), error=str(e))
            names = []
        seen: set[str] = set()
        rejected: list[Rejected] = []
        for name in names:
            path = self.directory / name
            origin = str(path)
            if not path.is_file():
                continue
            seen.add(origin)
            try:
                text = _read_manifest(path)
            except (OSError, UnicodeDecodeError) as e:
                rejected.append(self._reject(origin, (f"{origin}: cannot read: {e}",)))
                continue
            known = self._parsed.get(origin)
            if known is not None and known[0] == text:
                parsed = known[1]
            else:
                parsed = parse_manifest(text, origin=origin, node=self.node)
                self._parsed[origin] = (text, parsed)
            errors = parsed.errors
            if not errors and parsed.has_secret:
                mode_error = secret_mode_error(origin, path.stat().st_mode)
                errors = (mode_error,) if mode_error else ()
            if errors:
                rejected.append(self._reject(origin, errors))
            else:
                if self._reported.pop(origin, None) is not None:
                    log.info("manifest_accepted", file=origin)
                self.last_good[origin] = parsed.pods
                self.last_objects[origin] = parsed.objects
        for origin in set(self.last_good) - seen:
            del self.last_good[origin]
            self.last_objects.pop(origin, None)
        for origin in set(self._reported) - seen:
            del self._reported[origin]
        for origin in set(self._parsed) - seen:
            del self._parsed[origin]
        pods = tuple(p for origin in sorted(self.last_good) for p in self.last_good[origin])
        objects = tuple((o, self.last_objects[o]) for o in sorted(self.last_objects))
        return SourceUpdate(
            source=SourceName.FILE, pods=pods, rejected=tuple(rejected), objects=objects
        )

    def _reject(self, origin: str, errors: tuple[str, ...]) -> Rejected:
        if self._reported.get(origin) != errors:
            self._reported[origin] = errors
            kept = len(self.last_good.get(origin, ()))
            for error in errors:
                log.warning("manifest_rejected", file=origin, error=error, kept_pods=kept)
        return Rejected(origin=origin, error="\n".join(errors))


async def run_file_source(
    *,
    directory: str,
    node: Obj,
    queue: asyncio.Queue[SourceUpdate],
    rescan_interval: float = 20.0,
    debounce: float = 0.1,
    force_polling: bool = False,
    on_polling: Callable[[PollingReason], None] | None = None,
) -> None:
    """Send a full SourceUpdate at start and whenever the directory's result changes.

    A wake-up for a file written in place waits `debounce` for the rest of the burst; one for a
    rename into the directory, a removal or a file closed after writing scans at once.
    `on_polling` hears why the directory is polled when inotify could not serve (once per
    reason)."""
    source = DirectorySource(directory=Path(directory), node=node)
    wake = asyncio.Event()
    watch: DirectoryWatch | None = None
    said: PollingReason | None = None
    last: tuple[object, ...] | None = None
    try:
        while True:
            if watch is not None and watch.moved_or_gone():  # watch it again when it is back
                watch.stop()
                watch = None
            if watch is None and os.path.isdir(directory):
                watch = _watch(Path(directory), wake, force_polling=force_polling)
                if watch is not None and watch.polling is not None and watch.polling != said:
                    said = watch.polling
                    _say_polling(directory, said, on_polling)
            update = await asyncio.to_thread(source.scan)
            if watch is not None:
                watch.writing.clear()  # the scan read whatever was written by now
            if (update.pods, update.rejected, update.objects) != last:
                last = (update.pods, update.rejected, update.objects)
                await queue.put(update)
            try:
                await asyncio.wait_for(wake.wait(), timeout=rescan_interval)
                if watch is not None and watch.writing:
                    await asyncio.sleep(debounce)  # let a burst of in-place writes settle
            except TimeoutError:
                pass
            wake.clear()
    finally:
        if watch is not None:
            watch.stop()


def _watch(directory: Path, wake: asyncio.Event, *, force_polling: bool) -> DirectoryWatch | None:
    try:
        return DirectoryWatch(
            directory, wake.set, asyncio.get_running_loop(), force_polling=force_polling
        )
    except OSError as e:
        log.warning("manifest_watch_failed", path=str(directory), error=str(e))
        return None


def _say_polling(
    directory: str, reason: PollingReason, on_polling: Callable[[PollingReason], None] | None
) -> None:
    """One log line; and, when inotify failed, the caller's Node Warning event."""
    if reason.forced:
        log.info("manifest_watch_polling", path=directory, reason=reason.message)
        return
    log.warning("manifest_watch_polling", path=directory, reason=reason.message)
    if on_polling is not None:
        on_polling(reason)
