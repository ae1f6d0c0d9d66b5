"""Pure rules of the client side: Status -> error class, watch backoff, mirror pods."""

from __future__ import annotations

import pytest

from nodeagent.agent.apiclient import error_from_status
from nodeagent.agent.sources.apiserver import Backoff, desired_pods
from nodeagent.api import errors
from nodeagent.api.meta import is_mirror_pod


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (404, "NotFound", errors.NotFound),
        (409, "AlreadyExists", errors.AlreadyExists),
        (409, "Conflict", errors.Conflict),
        (410, "Expired", errors.Gone),
        (422, "Invalid", errors.Invalid),
        (403, "", errors.Forbidden),
        (410, "Gone", errors.Gone),
    ],
    ids=["notfound", "exists", "conflict", "expired", "invalid", "by-code", "gone-by-code"],
)
def test_status_maps_to_error_class(code: int, reason: str, expected: type) -> None:
    """A Status reply becomes its nodeagent.api.errors class, by reason, else by code."""
    body = {"kind": "Status", "code": code, "reason": reason, "message": "m"}
    err = error_from_status(code, body)
    assert type(err) is expected
    assert err.message == "m"


def test_unknown_error_keeps_code_and_reason() -> None:
    """An unmapped reply is an APIError carrying the server's code and reason."""
    err = error_from_status(418, {"code": 418, "reason": "Teapot", "message": "short and stout"})
    assert type(err) is errors.APIError
    assert (err.code, err.reason, err.message) == (418, "Teapot", "short and stout")


def test_non_status_body() -> None:
    """A reply that is not a Status still maps by its HTTP code."""
    assert type(error_from_status(503, "<html>")) is errors.ServiceUnavailable


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    """The delay doubles per failure within +-jitter and never passes the maximum (+jitter)."""
    b = Backoff(initial=1.0, maximum=8.0, jitter=0.2)
    for failures, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        for _ in range(20):
            assert base * 0.8 <= b.delay(failures) <= base * 1.2


def test_mirror_pods_are_not_desired() -> None:
    """Mirror pods (the node's own static pods reflected back) are left out of the API set."""
    mirror = {
        "metadata": {
            "name": "logs-n1",
            "namespace": "default",
            "annotations": {"kubernetes.io/config.mirror": "h"},
        }
    }
    plain = {"metadata": {"name": "web", "namespace": "default"}}
    assert is_mirror_pod(mirror)
    assert not is_mirror_pod(plain)
    assert desired_pods({"a": mirror, "b": plain}) == (plain,)
