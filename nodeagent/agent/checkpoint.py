"""The checkpoint of the server's desired pods for this node, so an agent booting offline runs them.

The file is one header line, then the payload (the pods as JSON):

    {"kind": "NodeagentPodCheckpoint", "version": 2, "sha256": "<hex of the payload>", "size": N}
    [{...pod...}, ...]

Replaced atomically (a temporary file, fsync, rename, fsync of the directory: privatefiles),
0600 in a 0700 directory: pod specs carry env values. A file that does not parse, is cut short
or whose payload does not match its sha256 (one flipped bit inside a string) raises
CheckpointCorrupt after it is renamed to `*.corrupt`: the caller treats the server source as
not seen, so nothing runs from it and nothing running is stopped because of it. A version 1
file (an older agent's, with no checksum) is still read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import structlog

from nodeagent import failpoints
from nodeagent.api.bodies import Obj
from nodeagent.privatefiles import ensure_private_dir, tighten_file, write_private

log = structlog.get_logger()
CHECKPOINT_NAME = "api-pods.checkpoint.json"
_KIND = "NodeagentPodCheckpoint"
VERSION = 2
CORRUPT_REASON = "CheckpointCorrupt"  # the Node condition's type and the Warning event's reason
MAX_HEADER = 4096  # the header line is ~150 bytes: a longer first line is not a header


class CheckpointCorrupt(Exception):
    """The checkpoint exists but cannot be trusted; the message says why."""


def checkpoint_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / CHECKPOINT_NAME


def encode_checkpoint(pods: Sequence[Obj]) -> bytes:
    """The file's bytes: the header line with the payload's sha256 and size, then the payload."""
    payload = json.dumps(list(pods), sort_keys=True, separators=(",", ":")).encode()
    header = {
        "kind": _KIND,
        "version": VERSION,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
    }
    return json.dumps(header, sort_keys=True).encode() + b"\n" + payload


def decode_checkpoint(raw: bytes) -> list[Obj]:
    """The pods in a checkpoint's bytes; CheckpointCorrupt naming what is wrong."""
    first, newline, payload = raw.partition(b"\n")
    try:
        if not newline or len(first) > MAX_HEADER:  # one JSON document: version 1
            return _pods(_json(raw, "checkpoint"), legacy=True)
        header = _json(first, "header")
        if not isinstance(header, dict) or header.get("kind") != _KIND:
            raise CheckpointCorrupt("not a nodeagent pod checkpoint")
        if header.get("version") != VERSION:
            raise CheckpointCorrupt(f"unknown checkpoint version {header.get('version')!r}")
        if len(payload) != header.get("size"):
            raise CheckpointCorrupt(
                f"payload is {len(payload)} bytes, the header says {header.get('size')}"
            )
        if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            raise CheckpointCorrupt("payload does not match its sha256")
        return _pods({"kind": _KIND, "pods": _json(payload, "payload")}, legacy=False)
    except UnicodeDecodeError as e:
        raise CheckpointCorrupt(f"not UTF-8: {e.reason}") from None


def _json(raw: bytes, what: str) -> object:
    try:
        return json.loads(raw)
    except ValueError as e:
        raise CheckpointCorrupt(f"{what} is not JSON: {e}") from None


def _pods(body: object, *, legacy: bool) -> list[Obj]:
    if not isinstance(body, dict) or body.get("kind") != _KIND:
        raise CheckpointCorrupt("not a nodeagent pod checkpoint")
    pods = body.get("pods")
    if not isinstance(pods, list) or not all(
        isinstance(p, dict) and isinstance(p.get("metadata"), dict) for p in pods
    ):
        raise CheckpointCorrupt("pods is not a list of objects")
    if legacy:
        log.info("checkpoint_unverified", reason="version 1: written before checksums")
    return pods


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files an agent killed before its rename left: another process's (the name
    carries the pid; this process's own is its writer's to replace)."""
    mine = f".{path.name}.{os.getpid()}.tmp"
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        if stale.name != mine:
            stale.unlink(missing_ok=True)


def save_checkpoint(state_dir: str | Path, pods: Sequence[Obj]) -> None:
    """Record the server's desired pods for this node (the whole set)."""
    path = checkpoint_path(state_dir)
    ensure_private_dir(path.parent)  # pod specs carry env values: 0600 in a 0700 directory
    _remove_stale_temporaries(path)
    write_private(
        path,
        encode_checkpoint(pods),
        before_replace=lambda: failpoints.hit("before-checkpoint-rename"),
    )


def load_checkpoint(state_dir: str | Path) -> list[Obj] | None:
    """The checkpointed pods, or None when there is none; CheckpointCorrupt (the file then set
    aside as `*.corrupt`, replacing an older one) when it cannot be trusted."""
    path = checkpoint_path(state_dir)
    _remove_stale_temporaries(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    tighten_file(path)  # one an older version wrote 0644
    try:
        return decode_checkpoint(raw)
    except CheckpointCorrupt as e:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.error("checkpoint_corrupt", path=str(path), moved_to=str(aside), error=str(e))
        raise CheckpointCorrupt(f"{path}: {e} (set aside as {aside.name})") from None
