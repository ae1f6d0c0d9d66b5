"""Shared pytest fixtures: a private podman API service and a busybox image in it; the
guard that fails the session when a test server's token shows up in a log (support/leaks.py);
and, under pytest-xdist (scripts/test.sh), the groups and order of the tests
(support/parallel.py).

Others add fixtures here; keep each one small and session-scoped where it is safe.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeagent.agent.tmpfs import unmount_under
from tests.support import leaks, parallel
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


def _in_worker(config: pytest.Config) -> bool:
    """This process is a pytest-xdist worker (it has the controller's `workerinput`)."""
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The phase's tests (scripts/test.sh runs the host-pressure modules alone, after the
    rest: parallel.host_pressure_kept); in an xdist worker, in the order their groups are
    handed out (parallel.py)."""
    phase = os.environ.get(parallel.HOST_PRESSURE_ENV, "")
    if phase:
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            path = item.path.relative_to(config.rootpath).as_posix()
            (kept if parallel.host_pressure_kept(path, phase) else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    if _in_worker(config):
        items.sort(
            key=lambda item: parallel.rank(item.path.relative_to(config.rootpath).as_posix())
        )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """In the xdist controller: the tests in parallel.py's groups (unless `--dist each`)."""
    if config.getoption("dist") == "each":
        return None
    return parallel.scheduler(config, log)


_LEAKS: list[str] = []  # "where: what kinds of secret", gathered as tests end
_CONTROLLER: list[bool] = []  # [True] in an xdist controller, which runs no test itself


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.pluginmanager.hasplugin("dsession"):
        _CONTROLLER.append(True)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each test's captured output (in-process servers and agents log there) holds no token.
    Under xdist the worker that ran the test checks it (the secrets are the worker's)."""
    if _CONTROLLER:
        return
    for section, text in report.sections:
        if not section.endswith(report.when):  # a later phase's report repeats earlier sections
            continue
        kinds = leaks.leaks_in(text)
        if kinds:
            _LEAKS.append(f"{report.nodeid} ({section}): {', '.join(kinds)}")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """In the xdist controller, as a worker ends: its finds, its secrets and its log files."""
    guard = getattr(node, "workeroutput", {}).get("leak_guard")
    if guard is not None:
        _LEAKS.extend(guard["found"])
        leaks.merge(guard["known"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nor does any log file a server or agent process wrote; a find fails the session. An
    xdist worker hands its finds and what it knows to the controller, which scans the files
    of every worker against the secrets of every worker."""
    if _in_worker(session.config):
        output: dict[str, Any] = session.config.workeroutput  # type: ignore[attr-defined]
        output["leak_guard"] = {"found": list(_LEAKS), "known": leaks.exported()}
        return
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
