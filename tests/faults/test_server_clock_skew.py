"""An agent whose clock is an hour behind still trusts the server: the server's own
certificates are valid from an hour before they were made (client-go's self-signed ones are).

The handshake is openssl's, told that "now" is an hour ago (`-attime`): a real TLS client
with a slow clock, without touching the system clock.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.server import running_server

HOUR_BEHIND = 3600 - 60  # a minute of slack for the test's own run time


def _openssl_at(epoch: int, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`openssl COMMAND -attime EPOCH ARGS...`: certificates checked as at EPOCH."""
    return subprocess.run(
        ["openssl", command, "-attime", str(epoch), *args],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")


@pytest.mark.usefixtures("openssl")
async def test_a_client_an_hour_behind_completes_the_handshake(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data") as srv:
        url = urlsplit(srv.url)
        an_hour_ago = int(time.time()) - HOUR_BEHIND
        # -verify_return_error: a certificate "not yet valid" at that time ends the handshake
        result = await asyncio.to_thread(
            _openssl_at,
            an_hour_ago,
            "s_client",
            "-connect",
            f"{url.hostname}:{url.port}",
            "-CAfile",
            str(srv.ca_file),
            "-verify_return_error",
            "-brief",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Verification: OK" in result.stdout + result.stderr
        # the identity the server shows agents' serving ports is checked by their clocks too
        kubelet_client = _openssl_at(
            an_hour_ago,
            "verify",
            "-CAfile",
            str(srv.ca_file),
            str(srv.data_dir / "kubelet-client.crt"),
        )
        assert kubelet_client.returncode == 0, kubelet_client.stdout + kubelet_client.stderr
