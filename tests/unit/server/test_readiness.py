"""/readyz's answer: kube-apiserver's `[+]name ok` / `[-]name failed: why` lines."""

from __future__ import annotations

from nodeagent.server.readiness import readyz_answer


def test_ready_is_ok_or_the_verbose_list() -> None:
    assert readyz_answer({"store": ""}, verbose=False) == (200, "ok")
    assert readyz_answer({"store": ""}, verbose=True) == (
        200,
        "[+]store ok\nreadyz check passed\n",
    )


def test_a_failing_check_is_listed_with_its_cause_verbose_or_not() -> None:
    checks = {"store": "the store could not commit: database or disk is full", "ping": ""}
    expected = (
        503,
        "[+]ping ok\n[-]store failed: the store could not commit: database or disk is full\n"
        "readyz check failed\n",
    )
    assert readyz_answer(checks, verbose=False) == expected
    assert readyz_answer(checks, verbose=True) == expected
