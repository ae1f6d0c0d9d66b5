"""Shared pytest fixtures: a private podman API service and a busybox image in it.

Others add fixtures here; keep each one small and session-scoped where it is safe.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.podman import PodmanService, busybox_image
from tests.support.registry import LocalRegistry


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


@pytest.fixture(scope="session")
def image_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """Debian's docker-registry on 127.0.0.1 (plain HTTP), for pull tests."""
    reg = LocalRegistry.start(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def puller(
    tmp_path_factory: pytest.TempPathFactory, image_registry: LocalRegistry
) -> Iterator[PodmanService]:
    """A second podman service (its images start empty) whose registries.conf marks the local
    registry insecure; tests push to the registry from podman_service and pull here."""
    service = PodmanService.start(
        tmp_path_factory.mktemp("puller"), insecure_registries=(image_registry.address,)
    )
    yield service
    ids = service.podman("ps", "-aq", check=False).stdout.split()
    if ids:
        service.podman("rm", "-f", "-t", "0", *ids, check=False)
    service.stop()
