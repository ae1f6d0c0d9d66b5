"""The files of a pod's configMap, secret, downwardAPI and projected volumes, kept up to date.

Projected ServiceAccount tokens come from `tokens` (agent/satokens.py): fetched before the
first write (a failure is kubelet's `failed to fetch token: ...` FailedMount), refreshed by the
resync when due; a pod that is gone has its tokens dropped.

`setup(pod, objects)` fills every such volume of the pod before a container is created (a
missing non-optional object raises `VolumeFailure` naming the volume, as kubelet's
`MountVolume.SetUp failed for volume "v" : configmap "x" not found`). `resync(pods)` writes them
again for pods already set up, after an object or the pod's labels changed: an unchanged volume
is not touched, a changed one is swapped atomically (atomicwriter). A failure during a resync
keeps the files as they were (kubelet does the same) and is logged without the data.
Directories: STATE/pods/UID/volumes/NAME, beside the pod's emptyDirs; a volume holding a Secret
is a tmpfs mounted there (agent/tmpfs.py), unless mounting is refused (then on the disk, said
once in the log).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from nodeagent.agent.atomicwriter import write_atomically
from nodeagent.agent.satokens import TokenError, TokenManager
from nodeagent.agent.tmpfs import mount_tmpfs
from nodeagent.api.bodies import Obj
from nodeagent.api.projection import (
    FileProjection,
    Objects,
    ReferenceFailure,
    is_projected_volume,
    volume_files,
)
from nodeagent.api.satoken import TokenSpec, token_sources, token_spec

log = structlog.get_logger()


class VolumeFailure(Exception):
    """A volume that cannot be set up; str() is kubelet's FailedMount message."""

    def __init__(self, volume: str, cause: str) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {cause}')
        self.volume = volume


def node_allocatable() -> dict[str, str]:
    """This host's cpu and memory, the value of a resourceFieldRef whose limit is unset."""
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"cpu": str(os.cpu_count() or 1), "memory": str(memory)}


def holds_secrets(volume: Obj) -> bool:
    """A secret volume, or a projected one with a secret or token source: on a tmpfs."""
    sources = (volume.get("projected") or {}).get("sources") or []
    return "secret" in volume or any("secret" in s or "serviceAccountToken" in s for s in sources)


def _projected(pod: Obj) -> list[Obj]:
    return [v for v in (pod.get("spec") or {}).get("volumes") or [] if is_projected_volume(v)]


@dataclass(slots=True, kw_only=True)
class PodVolumes:
    volume_dir: Callable[[str], str]  # pod uid -> the directory of its volumes
    allocatable: Mapping[str, str] = field(default_factory=node_allocatable)
    _set_up: set[str] = field(default_factory=set)  # uids whose volumes were written once
    tmpfs: bool = True  # secret volumes on a tmpfs; False after a refusal (said once)
    tokens: TokenManager = field(default_factory=TokenManager)

    async def _files(self, pod: Obj, volume: Obj, objects: Objects) -> dict[str, FileProjection]:
        """The volume's files, its tokens fetched (or served from the cache) first."""
        fetched: dict[TokenSpec, str] = {}
        for source in token_sources(volume):
            spec = token_spec(pod, source)
            fetched[spec] = await self.tokens.get(spec)
        return volume_files(pod, volume, objects, allocatable=self.allocatable, tokens=fetched)

    async def setup(self, pod: Obj, objects: Objects) -> None:
        """Write every projected volume of `pod` now; VolumeFailure for the first that fails."""
        uid = str(pod["metadata"]["uid"])
        for volume in _projected(pod):
            name = str(volume.get("name"))
            try:
                files = await self._files(pod, volume, objects)
            except (ReferenceFailure, TokenError) as e:
                raise VolumeFailure(name, str(e)) from e
            target = Path(self.volume_dir(uid)) / name
            try:
                if holds_secrets(volume) and self.tmpfs:
                    refused = await asyncio.to_thread(mount_tmpfs, target)
                    if refused is not None:
                        self.tmpfs = False
                        log.warning("secret_volumes_on_disk", reason=str(refused))
                await asyncio.to_thread(write_atomically, target, files)
            except OSError as e:  # a full disk, a state dir gone: the pod waits, retried
                raise VolumeFailure(name, f"{type(e).__name__}: {e.strerror or e}") from e
        self._set_up.add(uid)

    async def resync(self, pods: Iterable[tuple[Obj, Objects]]) -> None:
        """Write again the volumes of pods set up before (each with the objects it may read)."""
        live: set[str] = set()
        for pod, objects in pods:
            uid = str(pod["metadata"]["uid"])
            live.add(uid)
            if uid not in self._set_up and not os.path.isdir(self.volume_dir(uid)):
                continue  # not started yet (a restarted agent finds the dirs of running pods)
            for volume in _projected(pod):
                name = str(volume.get("name"))
                try:
                    files = await self._files(pod, volume, objects)
                    target = Path(self.volume_dir(uid)) / name
                    if await asyncio.to_thread(write_atomically, target, files):
                        log.info("volume_updated", pod=pod["metadata"].get("name"), volume=name)
                except (ReferenceFailure, TokenError, OSError) as e:
                    log.warning(
                        "volume_update_failed",
                        pod=pod["metadata"].get("name"),
                        volume=name,
                        error=str(e),
                    )
        self._set_up &= live
        self.tokens.keep_pods(live)
