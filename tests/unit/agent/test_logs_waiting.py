"""What `kubectl logs` hears from the agent for a container that has no engine container yet,
in kubelet's words (it said NotFound "container c is not valid for pod p" for all of them)."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.agent.containerapi import no_container_answer

POD: dict[str, Any] = {
    "metadata": {"name": "nopull"},
    "spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "c"}]},
}


def _status(name: str, reason: str) -> dict[str, Any]:
    return {"containerStatuses": [{"name": name, "state": {"waiting": {"reason": reason}}}]}


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("ImagePullBackOff", "trying and failing to pull image"),
        ("ErrImagePull", "trying and failing to pull image"),
        ("ContainerCreating", "ContainerCreating"),
        ("CreateContainerConfigError", "CreateContainerConfigError"),
    ],
)
def test_waiting_container_is_a_bad_request_saying_why(reason: str, why: str) -> None:
    """400 with kubelet's 'is waiting to start' line."""
    code, text = no_container_answer(POD, _status("c", reason), "c")
    assert (code, text) == (400, f'container "c" in pod "nopull" is waiting to start: {why}\n')


def test_container_without_status_is_not_available() -> None:
    code, text = no_container_answer(POD, {}, "init")
    assert (code, text) == (400, 'container "init" in pod "nopull" is not available\n')


def test_unknown_container_is_not_found() -> None:
    code, text = no_container_answer(POD, {}, "nope")
    assert (code, text) == (404, "container nope is not valid for pod nopull\n")
