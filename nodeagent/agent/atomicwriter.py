"""Writes a volume's files so a reader sees the old set or the new one, never a mix.

kubelet's AtomicWriter layout (pkg/volume/util/atomic_writer.go), written anew here:

    DIR/..2026_12_07_17_30_00.123456789/<paths>   this version's files (a dir per version)
    DIR/..data -> ..2026_12_07_17_30_00.123456789 swapped by rename(2): the atomic step
    DIR/<first path part> -> ..data/<first path part>

A new version is written only when a file's bytes or mode differ; the old version's directory
and the links of paths no longer present are removed after the swap. Blocking I/O: call it in
a thread. It never logs the data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from nodeagent.api.projection import FileProjection

DATA_LINK = "..data"
DIR_MODE = 0o755  # as kubelet's: a container running as any user reads its volume


def _current(target: Path) -> Mapping[str, FileProjection] | None:
    """The files of the version ..data points at; None when there is none or it cannot be read."""
    try:
        version = target / os.readlink(target / DATA_LINK)
    except OSError:
        return None
    files: dict[str, FileProjection] = {}
    try:
        for root, _dirs, names in os.walk(version):
            for name in names:
                path = Path(root) / name
                st = path.stat()
                files[str(path.relative_to(version))] = FileProjection(
                    data=path.read_bytes(), mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid
                )
    except OSError:
        return None
    return files


def _matches(current: Mapping[str, FileProjection], wanted: Mapping[str, FileProjection]) -> bool:
    """Same paths, bytes and modes, and the owners asked for (-1: any)."""
    if current.keys() != wanted.keys():
        return False
    for rel, want in wanted.items():
        have = current[rel]
        if (have.data, have.mode) != (want.data, want.mode):
            return False
        if (want.uid, want.gid) != (-1, -1) and (
            (want.uid != -1 and have.uid != want.uid) or (want.gid != -1 and have.gid != want.gid)
        ):
            return False
    return True


def write_atomically(target: str | Path, files: Mapping[str, FileProjection]) -> bool:
    """Make `target` hold exactly `files`; False when it already did (nothing written)."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, DIR_MODE)
    current = _current(target)
    if current is not None and _matches(current, files):
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    version = Path(tempfile.mkdtemp(prefix=stamp, dir=target))
    os.chmod(version, DIR_MODE)
    for rel, projection in files.items():
        path = version / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(projection.data)
        if (projection.uid, projection.gid) != (-1, -1):  # a token for a pod's runAsUser
            os.chown(path, projection.uid, projection.gid)
        os.chmod(path, projection.mode)
    try:
        old: str | None = os.readlink(target / DATA_LINK)
    except OSError:
        old = None
    tmp_link = target / "..data_tmp"
    tmp_link.unlink(missing_ok=True)
    os.symlink(version.name, tmp_link)
    os.rename(tmp_link, target / DATA_LINK)  # the swap: readers now see the new version
    tops = {rel.split("/", 1)[0] for rel in files}
    for top in tops:
        link = target / top
        if not link.is_symlink():
            os.symlink(f"{DATA_LINK}/{top}", link)
    for entry in os.listdir(target):
        if entry.startswith(".."):
            continue
        if entry not in tops and (target / entry).is_symlink():
            (target / entry).unlink()
    if old and old != version.name and not old.startswith("/"):
        shutil.rmtree(target / old, ignore_errors=True)
    return True
