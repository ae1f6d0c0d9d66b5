"""This host's InternalIP: the source address of its route to the server, else its first
non-loopback IPv4 (read with an ioctl, without psutil).

Apart from stats.py because the agent needs it at start even without a server, and stats.py
(psutil, the node conditions) loads only with the server reporter.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from urllib.parse import urlsplit

SIOCGIFADDR = 0x8915  # ioctl: an interface's IPv4 address


def internal_ip(server_url: str | None) -> str:
    """The source address this host uses to reach the server, else its first non-loopback IPv4."""
    if server_url:
        parts = urlsplit(server_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            family = socket.AF_INET6 if ":" in (parts.hostname or "") else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((parts.hostname or "127.0.0.1", port))  # UDP: no packet is sent
                return str(s.getsockname()[0])
        except OSError:
            pass
    return next((ip for ip in _interface_ipv4s() if not ip.startswith("127.")), "127.0.0.1")


def _interface_ipv4s() -> list[str]:
    """Each interface's IPv4 address, in interface order (without psutil: an agent with no
    server never needs psutil, 0.9 MiB, and asks for this at start)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(s.fileno(), SIOCGIFADDR, request)
            except OSError:  # down, or no IPv4 address
                continue
            found.append(socket.inet_ntoa(answer[20:24]))
    return found
