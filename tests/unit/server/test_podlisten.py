"""A pod address binds before it exists (IP_FREEBIND): podman makes the bridge with a pod."""

from __future__ import annotations

import socket

import pytest

from nodeagent.server.podlisten import freebind_socket

ABSENT = "192.0.2.77"  # TEST-NET-1: on no interface of a test machine


def test_binds_an_address_not_yet_configured() -> None:
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind((ABSENT, 0))
    sock = freebind_socket(ABSENT, 0)
    try:
        host, port = sock.getsockname()
        assert host == ABSENT
        assert port > 0
    finally:
        sock.close()
