"""The rollout annotations: defaults, parsing, and the 422 a bad one gets at admission."""

from __future__ import annotations

import pytest

from nodeagent.api import rolloutpolicy, validation
from nodeagent.api.rolloutpolicy import RolloutPolicy, policy_of
from tests.unit.controllers.objects import daemonset

P = rolloutpolicy.PREFIX


def test_no_annotation_is_the_default_policy() -> None:
    """Without annotations: a 600 s deadline (Deployment's), threshold 1, no auto-revert,
    no canary, not paused, unreachable nodes skipped."""
    assert policy_of(daemonset()) == RolloutPolicy(
        progress_deadline=600,
        unhealthy_nodes=1,
        auto_revert=False,
        canary=None,
        soak_seconds=None,
        paused=False,
        unreachable="skip",
    )


def test_every_annotation_is_read() -> None:
    ds = daemonset(
        annotations={
            P + "progress-deadline-seconds": "90",
            P + "unhealthy-nodes-threshold": "3",
            P + "auto-revert": "true",
            P + "canary-nodes": "zone in (a,b),canary",
            P + "soak-seconds": "0",
            P + "paused": "true",
            P + "unreachable-nodes": "halt",
        }
    )
    policy = policy_of(ds)
    assert policy.progress_deadline == 90
    assert policy.unhealthy_nodes == 3
    assert policy.auto_revert
    assert policy.paused
    assert policy.canary is not None
    assert policy.canary.matches({"zone": "a", "canary": ""})
    assert not policy.canary.matches({"zone": "c", "canary": ""})
    assert policy.soak_seconds == 0
    assert policy.unreachable == "halt"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("paused", "yes", 'Unsupported value: "yes": supported values: "true", "false"'),
        ("auto-revert", "True", 'supported values: "true", "false"'),
        ("progress-deadline-seconds", "0", "must be a whole number of seconds >= 1"),
        ("progress-deadline-seconds", "10m", "must be a whole number of seconds >= 1"),
        ("progress-deadline-seconds", "-5", "must be a whole number of seconds >= 1"),
        ("soak-seconds", "1.5", "must be a whole number of seconds >= 0"),
        ("unhealthy-nodes-threshold", "0", "must be a whole number of nodes >= 1"),
        ("unreachable-nodes", "wait", 'supported values: "skip", "halt"'),
        ("canary-nodes", "zone in (a", "must be a node label selector"),
        ("canary-nodes", "", "must select some nodes"),
        ("pause", "true", "not a rollout annotation; known under rollout.nodeagent.io/"),
    ],
)
def test_a_bad_annotation_is_invalid_and_named(key: str, value: str, message: str) -> None:
    """Admission refuses it (a 422 from the server, an error from `nodeagent validate`), the
    field path naming the annotation; the controller reads it as absent."""
    ds = daemonset(annotations={P + key: value})
    errors = [str(e) for e in validation.validate_daemonset(ds)]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"metadata.annotations[{P}{key}]: ")
    assert message in errors[0]
    assert policy_of(ds) == RolloutPolicy()


def test_other_annotations_are_left_alone() -> None:
    ds = daemonset(annotations={"nodeagent.io/paused": "maybe", "example.com/x": "y"})
    assert validation.validate_daemonset(ds) == []


def test_soak_defaults_to_min_ready_seconds() -> None:
    ds = daemonset(min_ready_seconds=12)
    assert rolloutpolicy.soak_seconds(policy_of(ds), ds) == 12
    ds = daemonset(min_ready_seconds=12, annotations={P + "soak-seconds": "40"})
    assert rolloutpolicy.soak_seconds(policy_of(ds), ds) == 40
