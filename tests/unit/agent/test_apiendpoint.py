"""The API server address a pod is told: one it can reach and the certificate names."""

from __future__ import annotations

import pytest

from nodeagent.agent.apiendpoint import pod_api_endpoint


@pytest.mark.parametrize(
    ("server", "host_network", "expected"),
    [
        ("https://192.0.2.5:6443", False, ("192.0.2.5", 6443)),
        ("https://api.example:443", False, ("api.example", 443)),
        ("https://api.example", True, ("api.example", 443)),
        ("https://127.0.0.1:6443", True, ("127.0.0.1", 6443)),
        ("https://127.0.0.1:6443", False, ("10.88.0.1", 6443)),
        ("https://localhost:7000", False, ("10.88.0.1", 7000)),
        ("https://[::1]:6443", False, ("10.88.0.1", 6443)),
        (None, False, None),
    ],
    ids=["ip", "name", "default-port", "loopback-host-network", "loopback-bridge",
         "localhost-bridge", "v6-loopback-bridge", "no-server"],
)  # fmt: skip
def test_pod_api_endpoint(
    server: str | None, host_network: bool, expected: tuple[str, int] | None
) -> None:
    """The agent's server URL unless it is loopback and the pod is on the bridge: then the
    bridge's gateway (where all-in-one also serves)."""
    got = pod_api_endpoint(server, host_network=host_network, bridge_gateway="10.88.0.1")
    assert got == expected


def test_loopback_without_gateway_keeps_the_url() -> None:
    """An engine with no bridge network: the URL as it is (a hostNetwork pod still works)."""
    assert pod_api_endpoint("https://127.0.0.1:6443", host_network=False, bridge_gateway=None) == (
        "127.0.0.1",
        6443,
    )
