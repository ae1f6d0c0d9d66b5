"""The controllers' event spam filter: a flood about one object is cut after the burst."""

from __future__ import annotations

from nodeagent.server.controllers.eventfilter import SpamFilter


def test_burst_then_dropped_then_refilled() -> None:
    spam = SpamFilter(burst=3, refill_seconds=10.0)
    key = ("uid-1", "Normal", "SuccessfulCreate")
    assert [spam.allow(key, now=0.0) for _ in range(5)] == [True, True, True, False, False]
    assert spam.allow(("uid-1", "Normal", "SuccessfulDelete"), now=0.0)  # another reason
    assert spam.allow(("uid-2", "Normal", "SuccessfulCreate"), now=0.0)  # another object
    assert not spam.allow(key, now=9.0)
    assert spam.allow(key, now=10.5)  # one token back after refill_seconds
    assert not spam.allow(key, now=10.6)
