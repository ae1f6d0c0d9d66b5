"""The heap trimmer gives freed C-heap pages back to the kernel (resident memory drops)."""

from __future__ import annotations

import asyncio

import pytest

from nodeagent.agent import heaptrim
from tests.support.wait import wait_for


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_trim_returns_free_pages_inside_the_heap() -> None:
    """64 MiB freed under a live allocation stays resident until trimmed, then it is not."""
    trim = heaptrim.heap_trimmer()
    assert trim is not None  # glibc here
    chunks = [bytearray(1000) for _ in range(64 * 1024)]  # > pymalloc's 512: from malloc
    pin = bytearray(1000)  # allocated last: the heap's top cannot shrink past it
    chunks.clear()
    before = _rss_kib()
    trim()
    after = _rss_kib()
    assert before - after > 32 * 1024, (before, after)
    assert len(pin) == 1000


async def test_trim_task_trims_then_keeps_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The task trims after `first` seconds, then every `interval`, until cancelled."""
    calls: list[int] = []
    monkeypatch.setattr(heaptrim, "heap_trimmer", lambda: lambda: calls.append(1))
    task = asyncio.create_task(heaptrim.run_heap_trim(first=0.01, interval=0.01))
    await wait_for(lambda: len(calls) >= 3, timeout=5, message="three trims")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
