"""Shared pytest fixtures: a private podman API service and a busybox image in it; and the
guard that fails the session when a test server's token shows up in a log (support/leaks.py).

Others add fixtures here; keep each one small and session-scoped where it is safe.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeagent.agent.tmpfs import unmount_under
from tests.support import leaks
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


_LEAKS: list[str] = []  # "where: what kinds of secret", gathered as tests end


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each test's captured output (in-process servers and agents log there) holds no token."""
    for section, text in report.sections:
        if not section.endswith(report.when):  # a later phase's report repeats earlier sections
            continue
        kinds = leaks.leaks_in(text)
        if kinds:
            _LEAKS.append(f"{report.nodeid} ({section}): {', '.join(kinds)}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nor does any log file a server or agent process wrote; a find fails the session."""
    found = _LEAKS + [f"{p}: {', '.join(k)}" for p, k in leaks.leaks_in_files().items()]
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "tokens found in logs", red=True)
        for line in found:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _unmount_pod_volumes(request: pytest.FixtureRequest) -> Iterator[None]:
    """An agent leaves its pods' tmpfs mounted (secret and token volumes, as kubelet's; every
    API pod has a token volume): off after each test that had a temporary directory, or
    pytest cannot remove it and the mounts pile up for the rest of the session."""
    tmp = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp is not None:
        unmount_under(tmp)


@pytest.fixture(scope="session", autouse=True)
def _unmount_session_volumes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same for agents shared by a module or the session (tmp_path_factory's directories)."""
    yield
    unmount_under(tmp_path_factory.getbasetemp())
