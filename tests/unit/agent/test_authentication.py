"""Who may read the agent's /pods and /metrics on its plain port: callers on this host only."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from nodeagent.agent.authentication import loopback_only, trusted_peer


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
    """A loopback peer reads /pods and /metrics; any other address is refused."""
    assert trusted_peer(remote) is trusted


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


def _request(path: str, peer: str) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    return make_mocked_request("GET", path, transport=transport)


@pytest.mark.parametrize(
    ("path", "peer"),
    [
        ("/pods", "127.0.0.1"),
        ("/metrics", "::1"),
        ("/healthz", "10.0.0.9"),
        ("/readyz", "10.0.0.9"),
    ],
)
async def test_the_plain_port_answers(path: str, peer: str) -> None:
    """Health for anyone, /pods and /metrics for this host."""
    assert (await loopback_only(_request(path, peer), _ok)).status == 200


@pytest.mark.parametrize("path", ["/pods", "/metrics"])
async def test_pods_and_metrics_from_another_host_are_refused(path: str) -> None:
    """403 naming where they are served instead; no token is read on the plain port."""
    with pytest.raises(web.HTTPForbidden) as refused:
        await loopback_only(_request(path, "10.0.0.9"), _ok)
    assert "TLS serving port" in str(refused.value.text)
