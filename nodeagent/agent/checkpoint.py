"""The checkpoint of the server's desired pods for this node, so an agent booting offline runs them.

Written atomically, 0600 in a 0700 directory (nodeagent.privatefiles): pod specs carry env
values. A checkpoint that cannot be read is logged, renamed to `*.corrupt` and treated as
absent: never fatal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import structlog

from nodeagent.api.bodies import Obj
from nodeagent.privatefiles import ensure_private_dir, tighten_file, write_private

log = structlog.get_logger()
CHECKPOINT_NAME = "api-pods.checkpoint.json"
_KIND = "NodeagentPodCheckpoint"


def checkpoint_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / CHECKPOINT_NAME


def save_checkpoint(state_dir: str | Path, pods: Sequence[Obj]) -> None:
    """Record the server's desired pods for this node (the whole set)."""
    body = {"kind": _KIND, "version": 1, "pods": list(pods)}
    path = checkpoint_path(state_dir)
    ensure_private_dir(path.parent)  # pod specs carry env values: 0600 in a 0700 directory
    write_private(path, json.dumps(body, sort_keys=True).encode())


def load_checkpoint(state_dir: str | Path) -> list[Obj] | None:
    """The checkpointed pods, or None when there is none or it is corrupt (then set aside)."""
    path = checkpoint_path(state_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    tighten_file(path)  # one an older version wrote 0644
    try:
        body = json.loads(raw)
        if not isinstance(body, dict) or body.get("kind") != _KIND:
            raise ValueError("not a nodeagent pod checkpoint")
        pods = body["pods"]
        if not isinstance(pods, list) or not all(
            isinstance(p, dict) and isinstance(p.get("metadata"), dict) for p in pods
        ):
            raise ValueError("pods is not a list of objects")
    except (ValueError, KeyError) as e:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.error("checkpoint_corrupt", path=str(path), moved_to=str(aside), error=str(e))
        return None
    return pods
