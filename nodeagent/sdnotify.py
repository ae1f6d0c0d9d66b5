"""systemd notifications: READY=1, WATCHDOG=1, STATUS=..., STOPPING=1 over NOTIFY_SOCKET.

Shared by `nodeagent agent` and `nodeagent server` (both Type=notify units). A no-op when
NOTIFY_SOCKET is unset. `@name` addresses the abstract namespace. Send failures are logged,
never raised: a daemon must not die because systemd went away.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger()


class Notifier:
    """Sends sd_notify datagrams to `address` (NOTIFY_SOCKET); a no-op when it is None."""

    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self.address = address or None
        self._watchdog_usec = watchdog_usec

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if raw.isdigit() and (not pid or pid == str(os.getpid())):
            usec = int(raw)
        return cls(env.get("NOTIFY_SOCKET"), watchdog_usec=usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None when unset."""
        if not self.enabled or not self._watchdog_usec:
            return None
        return self._watchdog_usec / 2_000_000

    def notify(self, **fields: str) -> bool:
        """Send `KEY=value` lines in one datagram; True when sent."""
        if self.address is None:
            return False
        payload = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, target)
        except OSError as e:
            log.warning("sd_notify_failed", socket=self.address, error=str(e))
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify(READY="1", **({"STATUS": status} if status else {}))

    def status(self, text: str) -> bool:
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG="1")

    def stopping(self) -> bool:
        return self.notify(STOPPING="1")


async def keep_watchdog(notifier: Notifier) -> None:
    """WATCHDOG=1 every half WATCHDOG_USEC while the event loop runs; waits forever when unset."""
    interval = notifier.watchdog_interval
    if interval is None:
        await asyncio.Event().wait()
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)
