"""Bearer tokens: the admin token, and per-node tokens derived from the fleet's join secret.

A node's bearer token is `node.<nodeName>.<hmac>`: the server recomputes the HMAC with the join
secret, so it knows which node is calling without storing per-node state (the node authorizer
then limits it to its own objects). Whoever holds the join secret can join as any node, as with
a k3s join token; the secret is a fleet credential and is kept like one.
"""

from __future__ import annotations

import hashlib
import hmac

NODE_TOKEN_PREFIX = "node."


def node_bearer_token(join_secret: str, node_name: str) -> str:
    mac = hmac.new(join_secret.encode(), node_name.encode(), hashlib.sha256).hexdigest()
    return f"{NODE_TOKEN_PREFIX}{node_name}.{mac}"


def node_of_token(join_secret: str, token: str) -> str | None:
    """The node a token speaks for, or None when it is not a valid node token."""
    if not token.startswith(NODE_TOKEN_PREFIX):
        return None
    node_name, _, _mac = token[len(NODE_TOKEN_PREFIX) :].rpartition(".")
    if not node_name:
        return None
    expected = node_bearer_token(join_secret, node_name)
    return node_name if hmac.compare_digest(expected, token) else None
