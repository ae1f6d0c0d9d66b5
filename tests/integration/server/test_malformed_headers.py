"""A request aiohttp cannot parse never puts its bytes in the server's log: a malformed
`Authorization` header is answered 400 and logged as one line naming the error's type
(nodeagent/log.py routes aiohttp's own records; docs/security.md, "Bounded input")."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.server import ServerProcess, start_server_process
from tests.support.wait import wait_until

LEAKED = "bad-header-secret-3f9a1c"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server_process(tmp_path_factory.mktemp("headers") / "data")
    try:
        yield server
    finally:
        server.stop()


def _raw_request(srv: ServerProcess, head: bytes) -> bytes:
    url = urlsplit(srv.url)
    context = ssl.create_default_context(cafile=str(srv.ca_file))
    with (
        socket.create_connection((url.hostname, url.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=url.hostname) as tls,
    ):
        tls.sendall(head)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
        return answer


def test_a_malformed_authorization_header_is_400_and_not_logged(srv: ServerProcess) -> None:
    head = (
        b"GET /api/v1/nodes HTTP/1.1\r\nHost: localhost\r\n"
        b"Authorization: Bearer " + LEAKED.encode() + b"\x01\r\n\r\n"
    )
    answer = _raw_request(srv, head)
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), answer[:200]
    log_path = srv.log_path
    assert isinstance(log_path, Path)
    wait_until(
        lambda: "aiohttp_error" in log_path.read_text(errors="replace"),
        timeout=10,
        message="aiohttp's record of the bad request in the server log",
    )
    text = log_path.read_text(errors="replace")
    assert LEAKED not in text
    line = next(line for line in text.splitlines() if "aiohttp_error" in line)
    assert '"error_type"' in line, line
