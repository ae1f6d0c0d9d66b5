"""The garbage collector's pure decisions over a snapshot of objects."""

from __future__ import annotations

from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.server.cascade import COALESCE_SECONDS, pause_after, plan_collection


def obj(name: str, uid: str, *, owners: tuple[str, ...] = (), **meta: Any) -> Obj:
    m: Obj = {"name": name, "namespace": "default", "uid": uid, **meta}
    if owners:
        m["ownerReferences"] = [{"uid": u, "kind": "DaemonSet", "name": "x"} for u in owners]
    return {"metadata": m}


def terminating(o: Obj, *finalizers: str) -> Obj:
    o["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if finalizers:
        o["metadata"]["finalizers"] = list(finalizers)
    return o


def test_dependents_of_a_vanished_owner_are_deleted() -> None:
    plan = plan_collection([("pods", obj("p", "u-p", owners=("gone",)))])
    assert plan.delete == (("pods", "default", "p"),)


def test_live_owner_keeps_its_dependents() -> None:
    plan = plan_collection(
        [("daemonsets", obj("ds", "u-ds")), ("pods", obj("p", "u-p", owners=("u-ds",)))]
    )
    assert plan.delete == ()
    assert plan.strip_owners == ()


def test_one_vanished_owner_of_two_is_stripped_not_deleted() -> None:
    plan = plan_collection(
        [("daemonsets", obj("ds", "u-ds")), ("pods", obj("p", "u-p", owners=("u-ds", "gone")))]
    )
    assert plan.delete == ()
    assert plan.strip_owners == ((("pods", "default", "p"), frozenset({"gone"})),)


def test_foreground_owner_deletes_dependents_and_waits() -> None:
    owner = terminating(obj("ds", "u-ds"), "foregroundDeletion")
    plan = plan_collection([("daemonsets", owner), ("pods", obj("p", "u-p", owners=("u-ds",)))])
    assert plan.delete == (("pods", "default", "p"),)
    assert plan.drop_finalizer == ()


def test_foreground_owner_finishes_when_no_dependents_remain() -> None:
    owner = terminating(obj("ds", "u-ds"), "foregroundDeletion")
    plan = plan_collection([("daemonsets", owner)])
    assert plan.drop_finalizer == ((("daemonsets", "default", "ds"), "foregroundDeletion"),)


def test_orphaning_owner_strips_refs_before_it_goes() -> None:
    owner = terminating(obj("ds", "u-ds"), "orphan")
    dependents = [("pods", obj("p", "u-p", owners=("u-ds",)))]
    plan = plan_collection([("daemonsets", owner), *dependents])
    assert plan.delete == ()
    assert plan.strip_owners == ((("pods", "default", "p"), frozenset({"u-ds"})),)
    assert plan.drop_finalizer == ()
    assert plan_collection([("daemonsets", owner)]).drop_finalizer == (
        (("daemonsets", "default", "ds"), "orphan"),
    )


def test_terminating_dependents_are_not_deleted_again() -> None:
    dependent = terminating(obj("p", "u-p", owners=("gone",)))
    assert plan_collection([("pods", dependent)]).delete == ()


def test_terminating_namespace_is_emptied_then_finalized() -> None:
    ns: Obj = terminating({"metadata": {"name": "team", "uid": "u-ns"}}, "kubernetes")
    pod = obj("p", "u-p")
    pod["metadata"]["namespace"] = "team"
    plan = plan_collection([("namespaces", ns), ("pods", pod)])
    assert plan.delete == (("pods", "team", "p"),)
    assert plan.drop_finalizer == ()
    assert plan_collection([("namespaces", ns)]).drop_finalizer == (
        (("namespaces", "", "team"), "kubernetes"),
    )


def test_quick_passes_coalesce_signals_briefly_and_slow_ones_keep_the_loop_mostly_free() -> None:
    assert pause_after(0.0) == COALESCE_SECONDS
    assert pause_after(0.001) == COALESCE_SECONDS
    # a 0.2 s pass (every object of a large cluster) is followed by 1.8 s without one
    assert pause_after(0.2) == 0.2 * 9
