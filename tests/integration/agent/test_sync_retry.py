"""The agent on real podman: a pod whose sync fails waits kubelet's back-off period, says why,
and runs once the cause is gone."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog

from nodeagent.api.bodies import Obj
from tests.support.wait import wait_for

from .conftest import Agent, pod_yaml

pytestmark = pytest.mark.podman
WINDOW_SECONDS = 5.0  # how long the agent is watched for retries after its first failure


def host_file_pod(busybox: str, path: Path) -> str:
    """A pod mounting `path` as a hostPath of type FileOrCreate."""
    pod = json.loads(pod_yaml("hp", busybox, volumeMounts=[{"name": "f", "mountPath": "/f"}]))
    pod["spec"]["volumes"] = [
        {"name": "f", "hostPath": {"path": str(path), "type": "FileOrCreate"}}
    ]
    return json.dumps(pod)


async def test_missing_host_path_parent_backs_off_then_runs(
    make_agent: Callable[..., Agent], busybox: str, tmp_path: Path
) -> None:
    """A FileOrCreate hostPath under a missing directory: one try within the window (not one
    every few milliseconds), a FailedSync event, the error as the waiting message; once the
    directory is made, the pod runs at the next retry."""
    parent = tmp_path / "not-yet"
    agent = make_agent()
    (agent.manifests / "hp.yaml").write_text(host_file_pod(busybox, parent / "data"))

    def failed_syncs() -> list[tuple[str, str, str]]:
        return [e for _uid, e in agent.state.pod_events if e[1] == "FailedSync"]

    with structlog.testing.capture_logs() as logs:
        await agent.start()
        await wait_for(failed_syncs, timeout=60, message="a FailedSync event is recorded")
        window_ends = time.monotonic() + WINDOW_SECONDS
        await wait_for(
            lambda: time.monotonic() >= window_ends or None,
            timeout=WINDOW_SECONDS + 5,
            message="the observation window passes",
        )
        tries = [e for e in logs if e["event"] == "pod_sync_failed"]
        assert 1 <= len(tries) <= 2, tries
        assert all(e["log_level"] == "warning" and "exc_info" not in e for e in tries)
        assert str(parent) in failed_syncs()[0][2]
        pod = await agent.pod("hp")
        assert pod is not None
        main = pod["containers"][0]
        assert (main["state"], main["reason"]) == ("waiting", "ContainerCreating")
        assert str(parent) in main["message"]

        parent.mkdir()

        async def runs() -> Obj | None:
            found = await agent.pod("hp")
            ok = found and found["containers"][0]["state"] == "running"
            return found if ok else None

        await wait_for(runs, timeout=60, message="hp runs after the retry")
    assert (parent / "data").is_file()
