"""Node bearer tokens as text: their format and when the agent rotates them."""

from __future__ import annotations

import pytest

from nodeagent.api.tokens import (
    Lifetime,
    make_node_token,
    node_of_credential,
    same_hash,
    secret_hash,
)


@pytest.mark.parametrize(
    ("token", "node"),
    [
        (make_node_token("n1", "abc_-D"), "n1"),
        (make_node_token("web.example.com", "s"), "web.example.com"),
        ("nodecred.n1.", None),
        ("nodecred..x", None),
        ("nodecred.x", None),
        ("node.n1." + "0" * 64, None),  # the old HMAC scheme is no node credential
        ("admin-token", None),
    ],
    ids=["plain", "dotted-name", "no-secret", "no-name", "no-dot", "old-scheme", "other"],
)
def test_a_token_names_the_node_it_claims(token: str, node: str | None) -> None:
    """The server finds the record to check by the node name in the token."""
    assert node_of_credential(token) == node


def test_hashes_are_tagged_and_compared_whole() -> None:
    """A stored hash says its algorithm; two secrets never share one."""
    assert secret_hash("a").startswith("sha256:")
    assert same_hash(secret_hash("a"), secret_hash("a"))
    assert not same_hash(secret_hash("a"), secret_hash("b"))


@pytest.mark.parametrize(("jitter", "at"), [(0.0, 170.0), (0.5, 180.0), (0.999999, 190.0)])
def test_rotation_falls_within_70_to_90_percent_of_the_lifetime(jitter: float, at: float) -> None:
    """kubelet's certificate manager window: a jitter of 0 is 70 %, of almost 1 is 90 %."""
    life = Lifetime(received_at=100.0, lifetime_seconds=100.0)
    assert life.rotate_at(jitter) == pytest.approx(at, abs=1e-3)
    assert life.expires_at == 200.0
