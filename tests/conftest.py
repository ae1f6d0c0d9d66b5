"""Shared pytest fixtures: a private podman API service and a busybox image in it.

Others add fixtures here; keep each one small and session-scoped where it is safe.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.podman import PodmanService, busybox_image


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    """A podman API service with its own storage, shared by the whole session."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    base: Path = tmp_path_factory.mktemp("podman")
    service = PodmanService.start(base)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def busybox(podman_service: PodmanService) -> str:
    """The ref of a local busybox-static image (no PATH in its config) in podman_service."""
    return busybox_image(podman_service)
