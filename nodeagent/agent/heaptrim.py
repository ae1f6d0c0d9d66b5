"""Hand the C heap's free pages back to the kernel now and then (glibc `malloc_trim`).

Python returns freed memory to malloc, but glibc keeps the free pages inside its heap: start-up
(imports, parsing the manifests, the first containers) leaves about 1 MiB of them resident for
good. One trim costs about 0.3 ms. Where there is no `malloc_trim` (musl, not Linux) the task
just ends. Not the place for `gc.collect()`: a full collection of the agent's heap is ~30 ms.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable

import structlog

log = structlog.get_logger()
FIRST_TRIM_SECONDS = 10.0  # after start-up's garbage
TRIM_INTERVAL_SECONDS = 60.0


def heap_trimmer() -> Callable[[], None] | None:
    """A function that trims the heap, or None where the C library has no malloc_trim."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc among them
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def run() -> None:
        trim(0)

    return run


async def run_heap_trim(
    *, first: float = FIRST_TRIM_SECONDS, interval: float = TRIM_INTERVAL_SECONDS
) -> None:
    """Until cancelled: trim `first` seconds after start, then every `interval` seconds."""
    trim = heap_trimmer()
    if trim is None:
        log.debug("heap_trim_unavailable")
        return
    await asyncio.sleep(first)
    while True:
        trim()
        await asyncio.sleep(interval)
