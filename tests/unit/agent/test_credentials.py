"""The agent's credential files and the server's NodeCredential reply, read and written."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from nodeagent.agent.credentials import (
    CREDENTIAL_FILE,
    PASSWORD_FILE,
    Held,
    held_from_reply,
    load_held,
    node_password,
    save_held,
)
from nodeagent.api.tokens import Lifetime, make_node_token


def test_the_node_password_is_made_once_and_kept_private(tmp_path: Path) -> None:
    """A fresh state dir gets a 0600 password of 256 random bits; later calls read it back."""
    state = tmp_path / "state"
    first = node_password(str(state))
    assert len(first) == 43
    assert node_password(str(state)) == first
    assert stat.S_IMODE((state / PASSWORD_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_a_saved_credential_loads_back_for_its_node_only(tmp_path: Path) -> None:
    """The file is 0600; after a rename of the node it is ignored (the agent enrols anew)."""
    held = Held(
        token=make_node_token("n1", "s" * 43),
        lifetime=Lifetime(received_at=100.0, lifetime_seconds=60.0),
    )
    save_held(str(tmp_path), held)
    assert stat.S_IMODE((tmp_path / CREDENTIAL_FILE).stat().st_mode) == 0o600
    assert load_held(str(tmp_path), "n1") == held
    assert load_held(str(tmp_path), "n2") is None


@pytest.mark.parametrize("text", ["", "{", "[]", '{"token": "x"}', '{"token": 1, "receivedAt": 1}'])
def test_an_unreadable_credential_file_means_none(tmp_path: Path, text: str) -> None:
    """A damaged file is no credential (the agent enrols again), never a crash."""
    (tmp_path / CREDENTIAL_FILE).write_text(text)
    assert load_held(str(tmp_path), "n1") is None


def test_a_reply_gives_the_token_and_its_lifetime_on_this_hosts_clock() -> None:
    """expirationSeconds counts from receipt (no clock skew); without it, the timestamp."""
    token = make_node_token("n1", "s" * 43)
    reply = {"status": {"token": token, "expirationSeconds": 600}}
    assert held_from_reply(reply, received_at=1000.0) == Held(
        token=token, lifetime=Lifetime(received_at=1000.0, lifetime_seconds=600.0)
    )
    stamped = {"status": {"token": token, "expirationTimestamp": "1970-01-01T00:20:00Z"}}
    assert held_from_reply(stamped, received_at=1000.0).lifetime.lifetime_seconds == 200.0


@pytest.mark.parametrize(
    ("reply", "field"),
    [
        ({}, "status.token"),
        ({"status": {"token": 5}}, "status.token"),
        ({"status": {"token": "nodecred.n1.x"}}, "status.expirationSeconds"),
    ],
)
def test_a_malformed_reply_names_the_field(reply: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        held_from_reply(reply, received_at=0.0)


def test_the_file_holds_what_rotation_needs(tmp_path: Path) -> None:
    """receivedAt and lifetimeSeconds: a restarted agent plans its rotation from them."""
    held = Held(token="nodecred.n1.t", lifetime=Lifetime(received_at=5.0, lifetime_seconds=9.0))
    save_held(str(tmp_path), held)
    data = json.loads((tmp_path / CREDENTIAL_FILE).read_text())
    assert data == {"token": "nodecred.n1.t", "receivedAt": 5.0, "lifetimeSeconds": 9.0}
