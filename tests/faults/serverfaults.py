"""Faults on the server's side, for the fault suite and the soak: a small tmpfs to fill, and
the blocking HTTP calls a test makes to a server process while it breaks.

    with small_tmpfs(path, size="8m") as mount:   # mounted at path, unmounted afterwards
        filler = fill_disk(mount)                 # a file that takes every free byte
        filler.unlink()                           # space back

    with flapping_link(netns, server_ip, down=2, up=2) as flaps:  # DROP 2 s, open 2 s, ...
        ...                                       # flaps.cuts: how many cuts so far
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.tcpproxy import TcpProxy

CHUNK = 64 * 1024


def can_mount() -> str | None:
    """Why this machine cannot mount a tmpfs for a test, or None."""
    if os.geteuid() != 0:
        return "needs root (mount a tmpfs)"
    return None


@contextlib.contextmanager
def small_tmpfs(path: Path, *, size: str) -> Iterator[Path]:
    """A tmpfs of `size` bytes (mount's units: 8m) at `path`, unmounted (lazily, should a
    process still hold a file in it) when the block ends."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True
    )
    try:
        yield path
    finally:
        # the fleet's teardown may have unmounted it already
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill_disk(directory: Path, *, name: str = "filler") -> Path:
    """A file in `directory` grown until the filesystem refuses another byte (ENOSPC)."""
    filler = directory / name
    block = b"\0" * CHUNK
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = CHUNK
        while size:
            try:
                os.write(fd, block[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                size //= 2  # the last pages: smaller writes until not one byte fits
    finally:
        os.close(fd)
    return filler


def call(
    url: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """A blocking request; (HTTP status, body text). Any status is an answer, not an error."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


# -- a host's link to the server, cut with iptables inside the host's network namespace ------

LinkFault = str  # "DROP", "REJECT" or "LOSSY" (30 % of packets dropped)
LOSS = 0.3


def cut_link(netns: str, server_ip: str, fault: LinkFault) -> None:
    """Packets from the host in `netns` to `server_ip`: dropped, refused with a TCP reset, or
    dropped at random (LOSS) (heal_link undoes it). This kernel has no netem: delay goes through
    tests/support/tcpproxy.py instead."""
    rule = ["-d", server_ip]
    if fault == "DROP":
        rule += ["-j", "DROP"]
    elif fault == "REJECT":
        rule += ["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"]
    elif fault == "LOSSY":
        rule += ["-m", "statistic", "--mode", "random", "--probability", str(LOSS), "-j", "DROP"]
    else:
        raise ValueError(f"unknown link fault {fault!r}")
    subprocess.run(["ip", "netns", "exec", netns, "iptables", "-A", "OUTPUT", *rule], check=True)


def heal_link(netns: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "iptables", "-F", "OUTPUT"], check=True)


@dataclass
class Flapping:
    """What a flapping_link did so far: how many times it cut the link, and any error of its
    thread (raised when the block ends)."""

    cuts: int = 0
    errors: list[Exception] = field(default_factory=list)


@contextlib.contextmanager
def flapping_link(netns: str, server_ip: str, *, down: float, up: float) -> Iterator[Flapping]:
    """The host's packets to `server_ip` dropped for `down` seconds, then let through for `up`
    seconds, over and over (a thread of its own) until the block ends; healed then."""
    stop = threading.Event()
    flapping = Flapping()

    def run() -> None:
        try:
            while not stop.is_set():
                cut_link(netns, server_ip, "DROP")
                flapping.cuts += 1
                stop.wait(down)
                heal_link(netns)
                stop.wait(up)
        except Exception as exc:  # reported when the block ends
            flapping.errors.append(exc)

    thread = threading.Thread(target=run, name="link-flap", daemon=True)
    thread.start()
    try:
        yield flapping
    finally:
        stop.set()
        thread.join(30)
        heal_link(netns)
    if flapping.errors:
        raise AssertionError(f"the flapping link failed: {flapping.errors[0]!r}")


# -- what a process holds, for "back near where it started" ----------------------------------


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class ThreadedProxy:
    """tests/support/tcpproxy.py's TcpProxy on an event loop of its own thread, for tests whose
    own calls block (a server process, an agent process).

        with ThreadedProxy("127.0.0.1", port) as proxy:   # proxy.endpoint: "127.0.0.1:P"
            proxy.set_delay(0.3)
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._proxy: TcpProxy | None = None
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with TcpProxy.running(*self._target) as proxy:
            self._proxy = proxy
            self._ready.set()
            await self._stop.wait()

    @property
    def endpoint(self) -> str:
        assert self._proxy is not None
        return self._proxy.endpoint

    def set_delay(self, seconds: float) -> None:
        assert self._proxy is not None
        self._loop.call_soon_threadsafe(setattr, self._proxy, "delay", seconds)

    def __enter__(self) -> ThreadedProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
