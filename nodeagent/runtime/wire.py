"""PURE decoding of Docker Engine API wire formats: multiplexed streams, timestamps, states."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from datetime import datetime

from nodeagent.runtime.protocol import ContainerState

STATES: dict[str, ContainerState] = {
    "created": ContainerState.CREATED,
    "configured": ContainerState.CREATED,  # podman's word before the first start
    "initialized": ContainerState.CREATED,
    "running": ContainerState.RUNNING,
    "paused": ContainerState.RUNNING,
    "restarting": ContainerState.RUNNING,
    "stopping": ContainerState.RUNNING,  # podman, during a stop's grace period: still alive
    "exited": ContainerState.EXITED,
    "stopped": ContainerState.EXITED,  # podman
    "dead": ContainerState.EXITED,
    "removing": ContainerState.EXITED,
}
_FRACTION = re.compile(r"\.(\d+)")
_HEADER = struct.Struct(">BxxxL")


def state_of(status: str) -> ContainerState:
    """The ContainerState for an engine's State.Status word."""
    return STATES.get(status.lower(), ContainerState.UNKNOWN)


def parse_time(text: str | None) -> float | None:
    """Unix seconds from an RFC 3339 time with up to nanoseconds; None for Go's zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def demux(data: bytes) -> bytes:
    """stdout and stderr, in order, from Docker's multiplexed stream format (8-byte headers).

    Data that does not start with a valid header (a TTY stream) is returned as it is.
    """
    if len(data) < _HEADER.size or data[0] not in (0, 1, 2) or data[1:4] != b"\0\0\0":
        return data
    out = bytearray()
    offset = 0
    while offset + _HEADER.size <= len(data):
        _, size = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        out += data[offset : offset + size]
        offset += size
    return bytes(out)


@dataclass(slots=True)
class StreamDemux:
    """`demux` for a stream that arrives in chunks: feed() each one, get the payload so far.

    Whether the stream is multiplexed is decided on its first bytes, as `demux` does.
    """

    _buffer: bytearray = field(default_factory=bytearray)
    _raw: bool | None = None  # None until the first bytes decide

    def feed(self, chunk: bytes) -> bytes:
        if self._raw:
            return chunk
        self._buffer += chunk
        if self._raw is None:
            if len(self._buffer) < 4:
                return b""
            data = self._buffer
            self._raw = data[0] not in (0, 1, 2) or data[1:4] != b"\0\0\0"
            if self._raw:
                first = bytes(self._buffer)
                self._buffer.clear()
                return first
        out = bytearray()
        while len(self._buffer) >= _HEADER.size:
            _, size = _HEADER.unpack_from(self._buffer, 0)
            if len(self._buffer) < _HEADER.size + size:
                break
            out += self._buffer[_HEADER.size : _HEADER.size + size]
            del self._buffer[: _HEADER.size + size]
        return bytes(out)
