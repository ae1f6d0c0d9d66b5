"""Node credentials as text: the per-node bearer token's format, hashes, and when to rotate.

A node's credential is a random bearer token the server issues at enrolment
(docs/security.md, "Enrolment and node credentials"): `nodecred.<nodeName>.<secret>`, where
the secret is 256 random bits. The node name in it only tells the server which record to check;
the server keeps sha256(token), never the token. The agent rotates its token at a jittered 70 to
90 % of its lifetime, as kubelet rotates its client certificate.

Pure: randomness and time are parameters. (The tokens before enrolment, HMAC(join secret, node
name), are gone: the server refuses them, docs/security.md "Upgrading a fleet".)
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
