"""An unexpected error logs one JSON line with the exception's type, message and frames, and
no local variables: a secret held in a local (the Authenticator's admin token) never reaches
the log (docs/security.md, "Bounded input")."""

from __future__ import annotations

import json

import pytest
import structlog

from nodeagent import log
from nodeagent.server.auth import Authenticator

SECRET = "admin-token-that-must-not-be-logged"


def test_the_authenticator_repr_holds_no_secret() -> None:
    assert SECRET not in repr(Authenticator(admin_token=SECRET, join_secret=SECRET))


def test_exception_lines_carry_no_locals(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure(json=True)
    try:
        authenticator = Authenticator(admin_token=SECRET, join_secret=SECRET)
        try:
            raise ValueError(f"broken for {len(authenticator.admin_token)} characters")
        except ValueError:
            structlog.get_logger().exception("request_failed", error_type="ValueError")
    finally:
        structlog.reset_defaults()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert SECRET not in lines[0]
    (exception,) = json.loads(lines[0])["exception"]
    assert exception["exc_type"] == "ValueError"
    assert exception["exc_value"] == "broken for 35 characters"
    assert exception["frames"]
    assert all("locals" not in frame for frame in exception["frames"])
