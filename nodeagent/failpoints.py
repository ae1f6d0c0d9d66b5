"""Failpoints: named places where the process dies at once (exit 137, as a SIGKILL shows), for
the crash tests in tests/faults/ and the repeats in docs/operations.md.

`NODEAGENT_FAILPOINTS` names them, comma-separated, each optionally `NAME@N` (die at the Nth
time the point is reached; the first by default). Read once at import: with the variable unset
`hit` is one set lookup on an empty frozenset. Points in the agent:

    after-container-create   the engine made a container, not yet started
    after-container-start    the engine started it, the agent has not recorded anything
    before-checkpoint-rename the new checkpoint is written and synced, not yet renamed over
    after-status-write       the server accepted a pod status write
"""

from __future__ import annotations

import os
import sys

ENV = "NODEAGENT_FAILPOINTS"
EXIT_CODE = 137  # 128 + SIGKILL: what a supervisor sees of a kill -9


def _parse(text: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in text.split(","):
        name, _, nth = item.strip().partition("@")
        if name:
            points[name] = int(nth) if nth.isdigit() and int(nth) > 0 else 1
    return points


_ARMED = _parse(os.environ.get(ENV, ""))
_ACTIVE = frozenset(_ARMED)
_reached: dict[str, int] = {}


def hit(name: str) -> None:
    """Die here (no cleanup, no flush of anything but stderr's line) when `name` is armed and
    reached for the Nth time."""
    if name not in _ACTIVE:
        return
    count = _reached[name] = _reached.get(name, 0) + 1
    if count == _ARMED[name]:
        sys.stderr.write(f"failpoint {name} reached: exiting {EXIT_CODE}\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
