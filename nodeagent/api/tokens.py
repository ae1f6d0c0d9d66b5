"""Node credentials as text: the per-node bearer token's format, hashes, and when to rotate.

A node's credential is a random bearer token the server issues at enrolment
(docs/security.md, "Enrolment and node credentials"): `nodecred.<nodeName>.<secret>`, where
the secret is 256 random bits. The node name in it only tells the server which record to check;
the server keeps sha256(token), never the token. The agent rotates its token at a jittered 70 to
90 % of its lifetime, as kubelet rotates its client certificate.

Pure: randomness and time are parameters.

`node_bearer_token`/`node_of_token` are the old HMAC(join secret, node name) scheme. The server
no longer accepts them as credentials; they remain only for the agent port's check of the
server's proxy until that moves to mutual TLS.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

NODE_CREDENTIAL_PREFIX = "nodecred."
NODE_USER_PREFIX = "system:node:"
NODE_GROUPS = ("system:nodes", "system:authenticated")
# kubelet's certificate manager: rotate at a random point in [70 %, 90 %] of the lifetime
ROTATE_AT_MIN = 0.7
ROTATE_AT_MAX = 0.9

NODE_TOKEN_PREFIX = "node."  # the old scheme (see the module docstring)


def make_node_token(node_name: str, secret: str) -> str:
    """The bearer token of `node_name` carrying `secret` (URL-safe base64, no dots)."""
    return f"{NODE_CREDENTIAL_PREFIX}{node_name}.{secret}"


def node_of_credential(token: str) -> str | None:
    """The node a token claims to speak for (unverified), or None when it is not one."""
    if not token.startswith(NODE_CREDENTIAL_PREFIX):
        return None
    node_name, dot, secret = token[len(NODE_CREDENTIAL_PREFIX) :].rpartition(".")
    if not dot or not node_name or not secret:
        return None
    return node_name


def secret_hash(secret: str) -> str:
    """What the server stores for a token or node password: `sha256:<hex>`.

    A plain digest is enough: both are 256-bit random values, which no dictionary or
    brute-force search reaches, so a slow salted hash would buy nothing.
    """
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Compare two hashes in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifetime:
    """When a credential was received (the holder's clock) and how long it lives."""

    received_at: float
    lifetime_seconds: float

    @property
    def expires_at(self) -> float:
        return self.received_at + self.lifetime_seconds

    def rotate_at(self, jitter: float) -> float:
        """When to rotate; `jitter` in [0, 1) picks the point within 70 to 90 % of the life."""
        fraction = ROTATE_AT_MIN + (ROTATE_AT_MAX - ROTATE_AT_MIN) * jitter
        return self.received_at + fraction * self.lifetime_seconds


def node_bearer_token(join_secret: str, node_name: str) -> str:
    """The old scheme's token; see the module docstring."""
    mac = hmac.new(join_secret.encode(), node_name.encode(), hashlib.sha256).hexdigest()
    return f"{NODE_TOKEN_PREFIX}{node_name}.{mac}"


def node_of_token(join_secret: str, token: str) -> str | None:
    """The old scheme: the node a token speaks for, or None when it is not a valid one."""
    if not token.startswith(NODE_TOKEN_PREFIX):
        return None
    node_name, _, _mac = token[len(NODE_TOKEN_PREFIX) :].rpartition(".")
    if not node_name:
        return None
    expected = node_bearer_token(join_secret, node_name)
    return node_name if hmac.compare_digest(expected, token) else None
