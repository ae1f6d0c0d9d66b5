"""/readyz's answer from named checks, written as kube-apiserver's healthz handler writes it.

PURE. A check is a name and a problem ("" when it passes). `?verbose` lists every check as
`[+]name ok` or `[-]name failed: why`; a failing answer always lists them. Two departures from
kube-apiserver, both in docs/server.md: a failing /readyz is 503 (kube-apiserver answers 500),
and it says why a check fails instead of "reason withheld" (nothing in a store's error is a
secret, and an operator reading /readyz wants the cause).
"""

from __future__ import annotations

from collections.abc import Mapping

READY = 200
NOT_READY = 503


def readyz_answer(checks: Mapping[str, str], *, verbose: bool) -> tuple[int, str]:
    """(HTTP status, body) for `checks` (name -> problem, "" when it passes)."""
    failing = any(checks.values())
    if not failing and not verbose:
        return READY, "ok"
    lines = [
        f"[-]{name} failed: {problem}" if problem else f"[+]{name} ok"
        for name, problem in sorted(checks.items())
    ]
    lines.append("readyz check failed" if failing else "readyz check passed")
    return (NOT_READY if failing else READY), "\n".join(lines) + "\n"
