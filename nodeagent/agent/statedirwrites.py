"""The agent's writes in its state dir (the checkpoint, the node credential, the object cache),
each run through StateDirWrites so a full or read-only state dir is a Node condition.

`write(path, fn)` runs the blocking write `fn` (call it from a thread): an OSError is not
raised but recorded (statedirhealth.judge_write), and `fn` kept to be retried by `run()`, the
latest one per file, so a file is written again as soon as the disk allows. A streak of
failures is logged once (`state_dir_write_failed`, no traceback) and queued as one Warning
event about the Node (`StateDirUnwritable`, reporter.py posts it); the condition is computed
from `state.state_dir` by the reporter. Running pods are not touched by any of it.
"""

from __future__ import annotations

import asyncio
import errno
import threading
import time
from collections.abc import Callable

import structlog

from nodeagent.agent import statedirhealth
from nodeagent.agent.state import AgentState
from nodeagent.agent.statedirhealth import WriteResult

log = structlog.get_logger()


def describe_os_error(exc: OSError) -> str:
    """'No space left on device (ENOSPC)': the errno's text and its name."""
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


class StateDirWrites:
    """Runs, records and retries the writes in one state dir (thread-safe: writes run in
    threads, the retry loop on the event loop)."""

    def __init__(
        self,
        *,
        state: AgentState,
        clock: Callable[[], float] = time.monotonic,
        tick: float = 1.0,
    ) -> None:
        self.state = state
        self._clock = clock
        self._tick = tick
        self._lock = threading.Lock()  # guards the health and the pending writes
        self._file_locks: dict[str, threading.Lock] = {}
        self._pending: dict[str, Callable[[], object]] = {}

    def _file_lock(self, path: str) -> threading.Lock:
        with self._lock:
            return self._file_locks.setdefault(path, threading.Lock())

    def write(self, path: str, fn: Callable[[], object]) -> bool:
        """Run `fn`, which writes `path` (blocking); False when it failed with an OSError (it
        is then retried until it succeeds or a newer write of `path` replaces it)."""
        with self._file_lock(path):
            return self._attempt(path, fn)

    def _attempt(self, path: str, fn: Callable[[], object]) -> bool:
        try:
            fn()
        except OSError as exc:
            self._record(WriteResult(path=path, error=describe_os_error(exc)), fn)
            return False
        self._record(WriteResult(path=path), None)
        return True

    def _record(self, result: WriteResult, retry: Callable[[], object] | None) -> None:
        with self._lock:
            verdict = statedirhealth.judge_write(self.state.state_dir, result, self._clock())
            self.state.state_dir = verdict.health
            if retry is None:
                self._pending.pop(result.path, None)
            else:
                self._pending[result.path] = retry
        if verdict.announce is not None:
            log.warning("state_dir_write_failed", path=result.path, error=result.error)
            self.state.record_node_warning(statedirhealth.CONDITION, verdict.announce)
        elif result.error is not None:
            log.debug("state_dir_write_failed_again", path=result.path, error=result.error)
        if verdict.recovered_after is not None:
            log.info(
                "state_dir_writable", path=result.path, after_s=round(verdict.recovered_after, 1)
            )

    def retry_due(self) -> None:
        """Write again each failed file whose retry time has come (blocking)."""
        for path in statedirhealth.due(self.state.state_dir, self._clock()):
            with self._file_lock(path):
                with self._lock:
                    fn = self._pending.get(path)
                if fn is not None:  # not written meanwhile by a newer write
                    self._attempt(path, fn)

    async def run(self) -> None:
        """Until cancelled: retry the failed writes as they fall due."""
        while True:
            await asyncio.sleep(self._tick)
            if statedirhealth.due(self.state.state_dir, self._clock()):
                await asyncio.to_thread(self.retry_due)
