"""Wait on a condition with a deadline (never sleep-and-hope): async wait_for, sync wait_until."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def wait_for(
    predicate: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    interval: float = ...,
    message: str,
) -> T: ...


@overload
async def wait_for(
    predicate: Callable[[], T | None], *, timeout: float, interval: float = ..., message: str
) -> T: ...


async def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str,
) -> Any:
    """Call `predicate` (sync or async) until it returns a truthy value; return that value.

    Raises AssertionError naming `message` and the last value (or exception) at the deadline.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            last = value
        except Exception as exc:  # reported at the deadline
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (after {timeout}s; last value: {last!r})")
        await asyncio.sleep(interval)


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str,
) -> T:
    """The synchronous wait_for: poll `predicate` until truthy, AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:  # reported at the deadline
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (after {timeout}s; last value: {last!r})")
        time.sleep(interval)
