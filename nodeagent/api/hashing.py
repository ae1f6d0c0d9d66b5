"""Stable hashes: the pod-template hash (controller-revision-hash), spec hashes, static pod uids.

Pure. Every hash is over canonical JSON (sorted keys, no spaces), so it is the same in every
process and on every machine, and any change of the input changes it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from nodeagent.api.naming import safe_encode

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fnv1a_32(data: bytes, start: int = _FNV32_OFFSET) -> int:
    h = start
    for byte in data:
        h = ((h ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def template_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    """controller.ComputeHash: fnv-1a 32 of the template (then of the collision count as
    8 little-endian bytes), its decimal rendered with SafeEncodeString: `6d5f8c7b9c`."""
    h = fnv1a_32(canonical_json(template).encode())
    if collision_count is not None:
        h = fnv1a_32((collision_count & 0xFFFFFFFF).to_bytes(8, "little"), h)
    return safe_encode(str(h))


def spec_hash(obj: Any) -> str:
    """A short stable hex digest of obj's canonical JSON ("did this spec change?")."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


def static_pod_uid(source_path: str, content_hash: str, node_name: str) -> str:
    """A uuid-shaped uid for a static pod, fixed by its file, its content and its node
    (kubelet hashes the same three), so a restart of the agent keeps the pod's identity."""
    digest = hashlib.sha256("\x00".join((source_path, content_hash, node_name)).encode())
    return str(uuid.UUID(bytes=digest.digest()[:16], version=5))
