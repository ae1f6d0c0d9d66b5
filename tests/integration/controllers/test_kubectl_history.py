"""ControllerRevision data is what kubectl compares byte for byte (rollout history / undo)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from tests.integration.controllers.fleet import Fleet, daemonset_manifest
from tests.support.wait import wait_for

KUBECTL = str(Path(__file__).resolve().parents[3] / ".venv" / "bin" / "kubectl")


async def _kubectl(fleet: Fleet, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        *args,
        env=fleet.server.kubectl_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_undo_to_the_current_revision_is_skipped(fleet: Fleet) -> None:
    """kubectl finds the current template byte-equal to the newest revision's data, so undo
    to it is skipped; history lists both revisions."""
    await fleet.add_node("n1")
    await fleet.create_ds(daemonset_manifest())
    await fleet.set_image("fluentd", "busybox:v2")

    async def two_revisions() -> bool:
        return len(await fleet.revisions("name=fluentd")) == 2

    await wait_for(two_revisions, timeout=20, message="two revisions")
    history = await _kubectl(fleet, "rollout", "history", "ds/fluentd", "-n", "kube-system")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    undo = await _kubectl(
        fleet, "rollout", "undo", "ds/fluentd", "-n", "kube-system", "--to-revision=2"
    )
    assert "skipped rollback (current template already matches revision 2)" in undo
