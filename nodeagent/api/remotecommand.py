"""PURE: kubectl exec's and attach's channel protocol (v5/v4.channel.k8s.io over WebSocket) as
kubelet and kube-apiserver speak it: channel numbers, frames, the exit Status, the client's
messages, and what an exec or attach request asks for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodeagent.api.bodies import Obj

# The subprotocols served, preferred first; v5 adds the close message (stdin EOF).
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5: the message [255, channel] closes that channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecOptions:
    """What an exec request asks for (the query kubectl sends)."""

    command: tuple[str, ...]
    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    tty: bool = False

    def problem(self) -> str:
        """Why the exec request cannot run (kubelet's words), or ""."""
        if not self.command:
            return "you must specify at least 1 command"
        return self.streams_problem()

    def streams_problem(self) -> str:
        """Why a request without a stream cannot run (exec and attach alike), or ""."""
        if not (self.stdin or self.stdout or self.stderr):
            return "you must specify at least 1 of stdin, stdout, stderr"
        return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StdinData:
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StdinClosed:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Resize:
    width: int
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignored:
    why: str


ClientMessage = StdinData | StdinClosed | Resize | Ignored


def query_bool(value: str | None) -> bool:
    """A boolean query parameter as the API server reads it ("true", "1", ...)."""
    return (value or "").strip().lower() in ("true", "1", "t", "yes", "y")


def exec_options(query: Mapping[str, str], command: Sequence[str]) -> ExecOptions:
    """The options of an exec request; `command` is every `command=` value in order."""
    tty = query_bool(query.get("tty"))
    return ExecOptions(
        command=tuple(command),
        stdin=query_bool(query.get("stdin")),
        stdout=query_bool(query.get("stdout")),
        # With a terminal, stderr is part of the one stream (kubelet drops stderr then).
        stderr=query_bool(query.get("stderr")) and not tty,
        tty=tty,
    )


def attach_options(query: Mapping[str, str], container: Mapping[str, Any]) -> ExecOptions:
    """What an attach to `container` (its spec) gets, as kubelet decides: the terminal is the
    container's own (its spec's `tty`, whatever the request says, since a running process
    cannot gain or lose one), stderr is part of it then, and stdin reaches the process only if
    the container was created with `stdin: true` (else the input is dropped, as containerd
    drops it). No command: attach joins the container's main process."""
    asked = exec_options(query, ())
    tty = bool(container.get("tty"))
    return ExecOptions(
        command=(),
        stdin=asked.stdin and bool(container.get("stdin")),
        stdout=asked.stdout,
        stderr=query_bool(query.get("stderr")) and not tty,
        tty=tty,
    )


def frame(channel: int, data: bytes) -> bytes:
    """A channel.k8s.io message: one byte of channel number, then the data."""
    return bytes([channel]) + data


def decode_client_message(message: bytes, protocol: str) -> ClientMessage:
    """What one binary message from kubectl means: stdin data, stdin closed (v5), a resize."""
    if not message:
        return Ignored(why="empty message")
    channel, payload = message[0], message[1:]
    if channel == STDIN:
        return StdinData(data=payload)
    if channel == RESIZE:
        return _resize(payload)
    if channel == CLOSE and protocol.startswith("v5.") and payload[:1] == bytes([STDIN]):
        return StdinClosed()
    return Ignored(why=f"channel {channel} is not read from the client")


def _resize(payload: bytes) -> ClientMessage:
    try:
        size = json.loads(payload)
        width, height = int(size["Width"]), int(size["Height"])
    except (ValueError, TypeError, KeyError):
        return Ignored(why="a resize message that is not {Width, Height}")
    if width <= 0 or height <= 0:
        return Ignored(why="a resize to an empty terminal")
    return Resize(width=width, height=height)


def exit_status(exit_code: int, command: Sequence[str]) -> Obj:
    """The Status kubectl reads from the error channel: Success, or NonZeroExitCode (kubectl
    then prints "command terminated with exit code N" and exits N)."""
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command "
            f"[{' '.join(command)}], exit code {exit_code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


# HTTP code -> the Status reason kubelet's errors carry.
REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 503: "ServiceUnavailable"}


def failure_status(message: str, *, code: int = 500) -> Obj:
    """A Status for an exec that could not run; kubectl prints its message and exits 1."""
    reason = REASONS.get(code, "InternalError")
    if reason == "InternalError":
        message = f"Internal error occurred: {message}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
