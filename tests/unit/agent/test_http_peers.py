"""Who may read the agent's /pods and /metrics without a token: callers on this host only."""

from __future__ import annotations

import pytest

from nodeagent.agent.http import trusted_peer


@pytest.mark.parametrize(
    ("remote", "trusted"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("10.213.7.1", False),
        ("192.168.1.20", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
    ],
)
def test_only_loopback_callers_are_trusted(remote: str | None, trusted: bool) -> None:
    """A loopback peer reads /pods and /metrics as before; any other address needs a token."""
    assert trusted_peer(remote) is trusted
