"""Engine wire formats decode as the agent needs them: streams, times, state words, events."""

from __future__ import annotations

import json
import struct

import pytest

from nodeagent.runtime.docker import _decode_event
from nodeagent.runtime.protocol import ContainerState
from nodeagent.runtime.wire import StreamDemux, demux, parse_time, state_of


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def test_demux_joins_stdout_and_stderr_in_order() -> None:
    """Multiplexed frames become one byte string; a TTY stream passes through unchanged."""
    data = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"more")
    assert demux(data) == b"out\nerr\nmore"
    assert demux(b"plain tty output\n") == b"plain tty output\n"
    assert demux(b"") == b""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T13:01:58.123456789Z", 1795438918.123457),
        ("2026-11-23T13:01:58Z", 1795438918.0),
        ("2026-11-23T14:01:58.5+01:00", 1795438918.5),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_parse_time(text: str | None, expected: float | None) -> None:
    """RFC 3339 with nanoseconds and offsets; Go's zero time and junk are None."""
    got = parse_time(text)
    assert got == pytest.approx(expected, abs=1e-3) if expected is not None else got is None


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("running", ContainerState.RUNNING),
        ("exited", ContainerState.EXITED),
        ("stopped", ContainerState.EXITED),
        ("stopping", ContainerState.RUNNING),
        ("configured", ContainerState.CREATED),
        ("created", ContainerState.CREATED),
        ("Weird", ContainerState.UNKNOWN),
    ],
)
def test_state_words(word: str, state: ContainerState) -> None:
    """docker's and podman's state words map onto ContainerState."""
    assert state_of(word) is state


def test_event_lines() -> None:
    """Container events become ContainerEvents; exec and unknown lines are skipped."""
    line = {
        "Type": "container",
        "Action": "die",
        "Actor": {"ID": "abc", "Attributes": {"io.nodeagent.pod.uid": "u1"}},
        "timeNano": 1_700_000_000_500_000_000,
    }
    event = _decode_event(json.dumps(line).encode())
    assert event is not None
    assert (event.container_id, event.action, event.pod_uid) == ("abc", "die", "u1")
    assert event.time == pytest.approx(1_700_000_000.5, abs=1e-3)
    assert _decode_event(json.dumps({**line, "Action": "exec_start: sh"}).encode()) is None
    assert _decode_event(b"not json") is None


def test_stream_demux_gives_the_same_bytes_however_the_stream_is_cut() -> None:
    """Fed byte by byte or whole, a multiplexed stream decodes as demux does; TTY passes."""
    data = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"more")
    decoder = StreamDemux()
    assert b"".join(decoder.feed(data[i : i + 1]) for i in range(len(data))) == demux(data)
    assert StreamDemux().feed(data) == demux(data)
    tty = StreamDemux()
    assert tty.feed(b"pl") + tty.feed(b"ain tty\n") + tty.feed(b"\x01\0\0\0") == (
        b"plain tty\n\x01\0\0\0"
    )
