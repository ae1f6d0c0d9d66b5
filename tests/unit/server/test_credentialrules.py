"""A node's credential record: enrolment binds a name to a password, rotation overlaps."""

from __future__ import annotations

import pytest

from nodeagent.api.tokens import secret_hash
from nodeagent.server import credentialrules as rules
from nodeagent.server.credentialrules import (
    PasswordRejected,
    enrolled,
    minted,
    rotated,
    token_valid,
)

PW_A, PW_B = secret_hash("password-a"), secret_hash("password-b")
T1, T2, T3 = secret_hash("t1"), secret_hash("t2"), secret_hash("t3")


def test_the_first_enrolment_binds_the_name_to_its_password() -> None:
    """A second host with another password is refused; the first one may enrol again and
    keeps its earlier tokens."""
    record = enrolled(None, node_name="n1", password_hash=PW_A, token_hash=T1, now=0, ttl=100)
    assert record["metadata"] == {"name": "n1"}
    assert record["passwordHash"] == PW_A
    assert token_valid(record, T1, now=50)
    with pytest.raises(PasswordRejected):
        enrolled(record, node_name="n1", password_hash=PW_B, token_hash=T2, now=1, ttl=100)
    again = enrolled(record, node_name="n1", password_hash=PW_A, token_hash=T2, now=1, ttl=100)
    assert token_valid(again, T1, now=50)
    assert token_valid(again, T2, now=50)


def test_tokens_expire_and_unknown_ones_never_pass() -> None:
    record = enrolled(None, node_name="n1", password_hash=PW_A, token_hash=T1, now=0, ttl=100)
    assert not token_valid(record, T1, now=100)
    assert not token_valid(record, T2, now=50)
    assert not token_valid(rules.new_record("n1"), T1, now=0)


def test_rotation_adds_a_token_and_cuts_the_used_one_short() -> None:
    """The used token lives ROTATION_OVERLAP_SECONDS more (never past its own expiry); other
    tokens of the node are left as they were."""
    ttl = 1000.0
    record = enrolled(None, node_name="n1", password_hash=PW_A, token_hash=T1, now=0, ttl=ttl)
    record = minted(record, node_name="n1", token_hash=T3, now=0, ttl=ttl)
    out = rotated(record, used_hash=T1, new_hash=T2, now=700, ttl=ttl)
    overlap_end = 700 + rules.ROTATION_OVERLAP_SECONDS
    assert token_valid(out, T1, now=overlap_end - 1)
    assert not token_valid(out, T1, now=overlap_end)
    assert token_valid(out, T2, now=1699)
    assert token_valid(out, T3, now=999)
    short = enrolled(None, node_name="n1", password_hash=PW_A, token_hash=T1, now=0, ttl=10)
    cut = rotated(short, used_hash=T1, new_hash=T2, now=8, ttl=10)
    assert not token_valid(cut, T1, now=10)


def test_a_minted_token_leaves_the_password_binding_alone() -> None:
    """The admin's token for a node binds no host: the first enrolment still does."""
    record = minted(None, node_name="n1", token_hash=T1, now=0, ttl=100)
    assert record["passwordHash"] == ""
    bound = enrolled(record, node_name="n1", password_hash=PW_B, token_hash=T2, now=0, ttl=100)
    assert bound["passwordHash"] == PW_B
    assert token_valid(bound, T1, now=1)


def test_a_record_keeps_a_bounded_number_of_live_tokens() -> None:
    """Expired tokens go first; past MAX_TOKENS the oldest goes."""
    record = rules.new_record("n1")
    for i in range(rules.MAX_TOKENS + 3):
        record = minted(record, node_name="n1", token_hash=secret_hash(f"t{i}"), now=i, ttl=1000)
    assert len(record["tokens"]) == rules.MAX_TOKENS
    assert not token_valid(record, secret_hash("t0"), now=100)
    assert token_valid(record, secret_hash(f"t{rules.MAX_TOKENS + 2}"), now=100)
    later = minted(record, node_name="n1", token_hash=T1, now=2000, ttl=1000)
    assert len(later["tokens"]) == 1


def test_records_of_names_without_a_node_are_orphans_once_they_are_old() -> None:
    """k3s's orphan rule: no Node of that name, and no change for ORPHAN_AGE_SECONDS."""
    lonely = enrolled(None, node_name="lonely", password_hash=PW_A, token_hash=T1, now=0, ttl=1e6)
    lonely["metadata"]["resourceVersion"] = "7"
    known = enrolled(None, node_name="known", password_hash=PW_A, token_hash=T2, now=0, ttl=1e6)
    age = rules.ORPHAN_AGE_SECONDS
    assert rules.orphans([lonely, known], node_names={"known"}, now=age) == [("lonely", "7")]
    assert rules.orphans([lonely, known], node_names={"known"}, now=age - 1) == []
    rotated_later = rotated(lonely, used_hash=T1, new_hash=T3, now=age - 1, ttl=1e6)
    assert rules.orphans([rotated_later], node_names=set(), now=age) == []
