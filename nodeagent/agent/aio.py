"""Cancellation that libraries turned into errors: re-raise it so a stopping task really stops.

aiohttp (under aiodocker) may surface a cancel that lands mid-read as a connection error; a
loop that catches engine errors and retries would then swallow the only cancel it gets.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    """Call in an `except` block: raise CancelledError when this task is being cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
