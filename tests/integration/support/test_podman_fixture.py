"""The shared podman fixtures work: the service answers, the busybox image runs, stop cleans up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.podman import (
    PodmanService,
    busybox_image,
    clear_containers,
    ping,
    tag_image,
)
from tests.support.wait import wait_for, wait_until

pytestmark = pytest.mark.podman


def test_busybox_runs_applets_by_absolute_path(podman_service: PodmanService, busybox: str) -> None:
    """The imported image runs busybox applets; its config carries no PATH."""
    result = podman_service.podman("run", "--rm", busybox, "/bin/sh", "-c", "echo hi; id -u")
    assert result.stdout.split() == ["hi", "0"]
    env = podman_service.podman("image", "inspect", "--format", "{{.Config.Env}}", busybox)
    assert "PATH" not in env.stdout


def test_tag_image_adds_a_second_name(podman_service: PodmanService, busybox: str) -> None:
    """tag_image makes the same image answer to another name."""
    tag_image(podman_service, busybox, "localhost/busybox:tagged")
    ids = {
        podman_service.podman("image", "inspect", "--format", "{{.Id}}", ref).stdout
        for ref in (busybox, "localhost/busybox:tagged")
    }
    assert len(ids) == 1


def test_second_service_is_separate_and_stop_removes_everything(tmp_path: Path) -> None:
    """Two services do not share containers; stop() ends the service and its socket."""
    other = PodmanService.start(tmp_path / "other")
    try:
        image = busybox_image(other, "localhost/busybox:other")
        other.podman("run", "-d", "--name", "sleeper", image, "/bin/sleep", "600")
        assert "sleeper" in other.podman("ps", "--format", "{{.Names}}").stdout
    finally:
        other.stop()
    assert not ping(other.socket_path)


async def test_wait_for_raises_with_the_message_and_last_value() -> None:
    """wait_for gives up at the deadline with the message and the last value seen."""
    with pytest.raises(AssertionError, match=r"never true.*last value: 0"):
        await wait_for(lambda: 0, timeout=0.1, message="never true")

    async def ready() -> str:
        return "yes"

    assert await wait_for(ready, timeout=1, message="async predicate") == "yes"
    with pytest.raises(AssertionError, match="sync never"):
        wait_until(lambda: None, timeout=0.1, message="sync never")


def test_stop_removes_a_sandbox_whose_namespaces_others_share(tmp_path: Path) -> None:
    """stop() leaves no container behind, not even a pod's sandbox that others shared."""
    other = PodmanService.start(tmp_path / "pod")
    image = busybox_image(other, "localhost/busybox:pod")
    try:
        other.podman("run", "-d", "--name", "sandbox", image, "/bin/sleep", "600")
        for _ in range(2):
            shared = ("--network", "container:sandbox", "--ipc", "container:sandbox")
            other.podman("run", "-d", *shared, image, "/bin/sleep", "600")
    finally:
        other.stop()
    try:
        assert other.podman("ps", "--all", "--quiet").stdout.split() == []
    finally:
        clear_containers(other._argv(), other.env)
