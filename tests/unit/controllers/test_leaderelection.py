"""Leader election decisions (client-go's rules): who may take the lease, when it has expired
by our own clock, what a claim and a release write."""

from __future__ import annotations

from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.leaderelection import (
    LEASE_NAME,
    LEASE_NAMESPACE,
    Observed,
    Timings,
    claimed,
    micro_time,
    observe,
    released,
    should_acquire,
    still_leading,
)

T = Timings()


def lease(holder: str, renew: str = "2026-11-23T12:00:00.000000Z", duration: int = 15) -> Obj:
    return {
        "metadata": {"name": LEASE_NAME, "namespace": LEASE_NAMESPACE, "resourceVersion": "7"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": "2026-11-23T11:00:00.000000Z",
            "renewTime": renew,
            "leaseTransitions": 3,
        },
    }


def seen(obj: Obj | None, at: float) -> Observed:
    return observe(None, obj, at)


def test_absent_free_or_own_lease_may_be_taken() -> None:
    assert should_acquire(None, observed=seen(None, 0), now=0, me="b")
    assert should_acquire(lease(""), observed=seen(lease(""), 0), now=0, me="b")
    assert should_acquire(lease("b"), observed=seen(lease("b"), 0), now=0, me="b")


def test_another_holders_lease_expires_by_our_clock_not_its_renew_time() -> None:
    """Held by a: not ours until its record stood still for leaseDurationSeconds."""
    held = lease("a", renew="2000-01-01T00:00:00.000000Z")  # a stale wall clock is not trusted
    observed = seen(held, 100.0)
    assert not should_acquire(held, observed=observed, now=114.9, me="b")
    assert should_acquire(held, observed=observed, now=115.0, me="b")


def test_a_renewal_restarts_the_expiry() -> None:
    first = observe(None, lease("a", renew="2026-11-23T12:00:00.000000Z"), 100.0)
    assert observe(first, lease("a", renew="2026-11-23T12:00:00.000000Z"), 110.0) is first
    renewed = lease("a", renew="2026-11-23T12:00:10.000000Z")
    second = observe(first, renewed, 110.0)
    assert second.at == 110.0
    assert not should_acquire(renewed, observed=second, now=120.0, me="b")


def test_a_leader_steps_down_after_the_renew_deadline() -> None:
    assert still_leading(last_renewed=100.0, now=109.9, timings=T)
    assert not still_leading(last_renewed=100.0, now=110.0, timings=T)


def test_taking_over_counts_a_transition_and_keeps_metadata_for_the_cas() -> None:
    new = claimed(lease("a"), me="b", wall=1_800_000_000.5, timings=T)
    assert new["metadata"]["resourceVersion"] == "7"
    assert new["spec"] == {
        "holderIdentity": "b",
        "leaseDurationSeconds": 15,
        "acquireTime": "2027-01-15T08:00:00.500000Z",
        "renewTime": "2027-01-15T08:00:00.500000Z",
        "leaseTransitions": 4,
    }


def test_renewing_moves_only_the_renew_time() -> None:
    new = claimed(lease("b"), me="b", wall=1_800_000_000.0, timings=T)
    assert new["spec"]["acquireTime"] == "2026-11-23T11:00:00.000000Z"
    assert new["spec"]["leaseTransitions"] == 3
    assert new["spec"]["renewTime"] == micro_time(1_800_000_000.0)


def test_a_new_lease_names_itself() -> None:
    new = claimed(None, me="b", wall=0.0, timings=Timings(lease_duration=2.5, renew_deadline=2))
    assert (new["kind"], new["metadata"]["name"], new["metadata"]["namespace"]) == (
        "Lease",
        LEASE_NAME,
        LEASE_NAMESPACE,
    )
    assert new["spec"]["leaseTransitions"] == 0
    assert new["spec"]["leaseDurationSeconds"] == 3


def test_release_frees_the_lease_for_the_next_retry() -> None:
    freed = released(lease("b"), wall=0.0)
    assert freed["spec"]["holderIdentity"] == ""
    assert freed["spec"]["leaseDurationSeconds"] == 1
    assert should_acquire(freed, observed=seen(freed, 0), now=0, me="a")


def test_timings_refused_as_client_go_does() -> None:
    assert Timings().problems() == []
    assert Timings(lease_duration=10, renew_deadline=10).problems() == [
        "the lease duration must be greater than the renew deadline"
    ]
    assert Timings(renew_deadline=2.2, retry_period=2).problems() == [
        "the renew deadline must be greater than 1.2 x the retry period"
    ]
