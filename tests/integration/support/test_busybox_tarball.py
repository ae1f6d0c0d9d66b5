"""The busybox tarball is made once, whole, however many hosts ask for it at the same moment."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.podman import PodmanService, busybox_image, busybox_tarball

ROOT = Path(__file__).resolve().parents[3]

# A second process asking at the same time as this one's threads: prints the path and its inode.
ASK = (
    "import os, sys; from pathlib import Path; from tests.support.podman import busybox_tarball; "
    "p = busybox_tarball(Path(sys.argv[1])); print(p, os.stat(p).st_ino)"
)


def _ask(cache: Path) -> tuple[str, int]:
    path = busybox_tarball(cache)
    return str(path), path.stat().st_ino


def test_parallel_callers_share_one_tarball_made_once(tmp_path: Path) -> None:
    """Threads and processes starting on an empty cache all get the same, complete file."""
    cache = tmp_path / "cache"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ASK, str(cache)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(_ask, [cache] * 8))
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        path, inode = out.split()
        answers.append((path, int(inode)))
    # One path, and one inode: no caller's file was replaced by a later build.
    assert len(set(answers)) == 1, answers
    tarball = Path(answers[0][0])
    assert tarball.stat().st_ino == answers[0][1]
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "./bin/busybox" in names
    assert "./etc/passwd" in names
    # Nothing half-made is left beside it: only the tarball and its lock.
    assert sorted(p.suffix for p in cache.iterdir()) == [".lock", ".tar"]


@pytest.mark.podman
def test_hosts_importing_in_parallel_all_get_the_image(tmp_path: Path) -> None:
    """Three engines import from an empty cache at once, as e2e hosts starting together do."""
    if os.geteuid() != 0:
        pytest.skip("a podman service with its own storage needs root")
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(3) as pool:
        services = list(pool.map(PodmanService.start, [tmp_path / f"host{i}" for i in range(3)]))
    try:
        with ThreadPoolExecutor(3) as pool:
            tags = list(pool.map(lambda s: busybox_image(s, cache=cache), services))
        for service, tag in zip(services, tags, strict=True):
            result = service.podman("run", "--rm", tag, "/bin/echo", "imported")
            assert result.stdout.strip() == "imported"
    finally:
        for service in services:
            service.stop()
