"""A cancel that a library turned into an error still stops the task."""

from __future__ import annotations

import asyncio

import pytest

from nodeagent.agent.aio import raise_if_cancelling


async def test_swallowed_cancel_is_raised_again() -> None:
    """A retry loop that catches the error a cancel became still ends when cancelled."""
    entered = asyncio.Event()

    async def retry_loop() -> None:
        while True:
            try:
                entered.set()
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    raise ConnectionError("connection closed") from None  # as aiohttp may
            except ConnectionError:
                raise_if_cancelling()

    task = asyncio.create_task(retry_loop())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


async def test_not_cancelling_is_a_no_op() -> None:
    """Outside a cancel the helper does nothing."""
    raise_if_cancelling()
