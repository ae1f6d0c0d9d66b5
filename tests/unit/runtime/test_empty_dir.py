"""emptyDir directories: 0777 whatever the umask, as kubelet makes them, and made only once."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nodeagent.runtime.docker import _make_empty_dir


def test_an_empty_dir_is_0777_once_and_then_the_pods(tmp_path: Path) -> None:
    """Made 0777 under a 022 umask (any container uid may write); a mode the pod set later
    (a database wanting 0700) is kept when the next container of the pod is created."""
    directory = tmp_path / "pods" / "uid" / "volumes" / "scratch"
    old = os.umask(0o022)
    try:
        _make_empty_dir(str(directory))
        assert stat.S_IMODE(directory.stat().st_mode) == 0o777
        directory.chmod(0o700)
        _make_empty_dir(str(directory))
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    finally:
        os.umask(old)
