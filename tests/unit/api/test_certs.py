"""Who may call the agent's serving port, read from the peer certificate ssl decoded."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.api.certs import common_name, kubelet_client_problem


def peer(cn: str) -> dict[str, Any]:
    """getpeercert()'s shape for a certificate with O=system:nodes, CN=`cn`."""
    return {"subject": ((("organizationName", "system:nodes"),), (("commonName", cn),))}


@pytest.mark.parametrize(
    ("peercert", "answer"),
    [
        (None, (401, "a client certificate is required: the server's kubelet client\n")),
        ({}, (401, "a client certificate is required: the server's kubelet client\n")),
        (peer("kube-apiserver-kubelet-client"), None),
        (
            peer("system:node:n1"),
            (
                403,
                'the client certificate is for "system:node:n1", not the server\'s kubelet '
                'client "kube-apiserver-kubelet-client"\n',
            ),
        ),
        (
            {"subject": ((("organizationName", "x"),),)},
            (
                403,
                'the client certificate is for "", not the server\'s kubelet client '
                '"kube-apiserver-kubelet-client"\n',
            ),
        ),
    ],
    ids=["none", "empty", "server", "node", "no-cn"],
)
def test_who_may_call_the_serving_port(
    peercert: dict[str, Any] | None, answer: tuple[int, str] | None
) -> None:
    assert kubelet_client_problem(peercert) == answer


def test_common_name() -> None:
    assert common_name(peer("a")) == "a"
    assert common_name({}) == ""
