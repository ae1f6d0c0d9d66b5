"""Expectations hold a DaemonSet back until its own creates and deletes are seen."""

from __future__ import annotations

from nodeagent.server.controllers.daemonset.expectations import Expectations

KEY = ("kube-system", "fluentd")


def test_satisfied_once_creates_and_deletes_are_seen() -> None:
    """Two creates and a delete: satisfied only after both adds and the delete are observed,
    in any order, even an add observed before the create call returned."""
    exp = Expectations()
    assert exp.satisfied(KEY, 0)
    exp.expect(KEY, adds=2, deletes=["uid-1"], now=0)
    exp.created(KEY)
    assert not exp.satisfied(KEY, 1)
    exp.gone("uid-1")
    exp.created(KEY)
    assert exp.satisfied(KEY, 1)
    assert not exp


def test_failed_creates_lower_the_count_and_timeout_frees() -> None:
    """Creates that failed are not waited for; a lost event stops mattering after the timeout."""
    exp = Expectations(timeout=10)
    exp.expect(KEY, adds=3, deletes=[], now=0)
    exp.lower_adds(KEY, 2)
    assert not exp.satisfied(KEY, 1)
    assert exp.satisfied(KEY, 11)
