"""PURE: a node's credential record and how enrolment, rotation and a minted token change it.

One record per node name, kept in the store under the internal resource `nodecredentials`
(never served over REST): the hash of the node password that enrolled the name first (k3s's
node-password secret), the hashes of the node's live bearer tokens with their expiry, newest
first, and when it last changed (records of names with no Node are swept after a while).
Time is a parameter; hashes come in already made (nodeagent.api.tokens.secret_hash).
"""

from __future__ import annotations

from nodeagent.api.bodies import Obj
from nodeagent.api.tokens import same_hash

RESOURCE = "nodecredentials"  # the store's key; not in nodeagent.api.resources, so not served
API_VERSION = "nodeagent.io/v1"
KIND = "NodeCredential"
# tokens one node may hold at once: enrolments and rotations add one each; expired ones go first
MAX_TOKENS = 16
# how long the token a rotation replaces stays valid (capped by its own expiry), so requests
# already sent with it still pass
ROTATION_OVERLAP_SECONDS = 60.0
# a record whose Node does not exist and that has not changed for this long is removed (k3s's
# MinOrphanSecretAge): a host enrolled but never registered must not hold its name for good
ORPHAN_AGE_SECONDS = 600.0


class PasswordRejected(Exception):
    """The node name is enrolled with another node password."""


def new_record(node_name: str) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": node_name},
        "passwordHash": "",
        "tokens": [],
    }


def orphans(
    records: list[Obj], *, node_names: set[str], now: float, min_age: float = ORPHAN_AGE_SECONDS
) -> list[tuple[str, str]]:
    """(name, resourceVersion) of each record to remove: no Node of its name, and no change
    (enrolment, rotation, issue) for `min_age` seconds."""
    out = []
    for record in records:
        meta = record.get("metadata") or {}
        name = str(meta.get("name") or "")
        changed = float(record.get("changedAt") or 0)
        if name and name not in node_names and now - changed >= min_age:
            out.append((name, str(meta.get("resourceVersion") or "")))
    return out


def _tokens(record: Obj) -> list[Obj]:
    tokens = record.get("tokens")
    return [t for t in tokens if isinstance(t, dict)] if isinstance(tokens, list) else []


def _kept(tokens: list[Obj], now: float) -> list[Obj]:
    """The unexpired tokens, newest first, at most MAX_TOKENS."""
    return [t for t in tokens if float(t.get("expires") or 0) > now][:MAX_TOKENS]


def token_valid(record: Obj, token_hash: str, now: float) -> bool:
    """Whether a token with this hash is one of the record's, and not expired at `now`.

    Every entry is compared in constant time, so the time taken says nothing about which
    entry, if any, came close.
    """
    found = False
    for entry in _tokens(record):
        if same_hash(str(entry.get("hash") or ""), token_hash) and (
            float(entry.get("expires") or 0) > now
        ):
            found = True
    return found


def enrolled(
    record: Obj | None,
    *,
    node_name: str,
    password_hash: str,
    token_hash: str,
    now: float,
    ttl: float,
) -> Obj:
    """The record after an enrolment with this password; PasswordRejected when the name is
    bound to another one. The first enrolment binds the name to the password."""
    out = dict(record) if record is not None else new_record(node_name)
    bound = str(out.get("passwordHash") or "")
    if bound and not same_hash(bound, password_hash):
        raise PasswordRejected(node_name)
    out["passwordHash"] = password_hash
    out["tokens"] = _kept([{"hash": token_hash, "expires": now + ttl}, *_tokens(out)], now)
    out["changedAt"] = now
    return out


def minted(record: Obj | None, *, node_name: str, token_hash: str, now: float, ttl: float) -> Obj:
    """The record with one more token issued without enrolment (by the server's embedder);
    the password binding is left as it is."""
    out = dict(record) if record is not None else new_record(node_name)
    out["tokens"] = _kept([{"hash": token_hash, "expires": now + ttl}, *_tokens(out)], now)
    out["changedAt"] = now
    return out


def rotated(record: Obj, *, used_hash: str, new_hash: str, now: float, ttl: float) -> Obj:
    """The record after the holder of `used_hash` asked for a new token: the new one is added
    and the used one lives ROTATION_OVERLAP_SECONDS more at most. Other tokens are left alone
    (a reply lost on the way leaves the holder with the used one, which can rotate again)."""
    out = dict(record)
    tokens = []
    for entry in _tokens(record):
        if same_hash(str(entry.get("hash") or ""), used_hash):
            expires = min(float(entry.get("expires") or 0), now + ROTATION_OVERLAP_SECONDS)
            entry = {**entry, "expires": expires}
        tokens.append(entry)
    out["tokens"] = _kept([{"hash": new_hash, "expires": now + ttl}, *tokens], now)
    out["changedAt"] = now
    return out
