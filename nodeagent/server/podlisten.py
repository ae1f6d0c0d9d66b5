"""The server's listening sockets on pod addresses (`--pod-address`): where pods on the
container bridge reach a server that otherwise serves on loopback only.

Such an address (podman's bridge gateway, 10.88.0.1) may not exist yet when the server starts:
the engine makes the bridge with the first pod. The socket is bound with IP_FREEBIND, so it
binds now and receives connections once the address is up (systemd's FreeBind=).
"""

from __future__ import annotations

import ipaddress
import socket

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)  # Linux; the constant is absent on some builds


def freebind_socket(host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A listening TCP socket on (host, port), bound even before `host` is configured."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        level = socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP
        sock.setsockopt(level, IP_FREEBIND, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
