"""Hostile inputs for the "Bounded input" tests (docs/security.md), and how to measure what
they cost a process: each bomb is a few hundred bytes or kilobytes that an unbounded parser
turns into gigabytes or a stack overflow.
"""

from __future__ import annotations

import json
from pathlib import Path


def yaml_alias_bomb(kind: str = "Event", name: str = "laughs", *, levels: int = 9) -> bytes:
    """A "billion laughs" YAML object: 9 anchors of 9 aliases each, ~500 bytes that expand to
    9**9 (387 million) strings."""
    lines = [f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n"]
    lines.append('a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n')
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]\n")
    return "".join(lines).encode()


def yaml_merge_bomb(levels: int = 30) -> bytes:
    """Merge keys doubling at every level: `<<: [*a, *a]` 30 times (PyYAML's own merging
    grows its node lists 2**30 long)."""
    lines = ["apiVersion: v1\nkind: Event\nmetadata: {name: merges}\n", "m0: &m0 {x: 1}\n"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}\n" for i in range(1, levels)]
    return "".join(lines).encode()


def deep_json(depth: int = 10_000) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_json_object(depth: int = 10_000) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def deep_yaml_flow(depth: int = 10_000) -> bytes:
    return b"x: " + b"[" * depth + b"]" * depth + b"\n"


def deep_yaml_block(depth: int = 10_000) -> bytes:
    """Block sequences nested on one line: `- - - ... - x` (a sequence in a sequence ...)."""
    return b"x:\n" + b"- " * depth + b"x\n"


def copy_amplification(
    *, copies: int = 25, seed_bytes: int = 1024, at: str = "/metadata/annotations"
) -> bytes:
    """A JSON patch of one add and `copies` copy operations, each copying everything added so
    far: the object doubles with every copy (25 copies of 1 KiB is 32 GiB)."""
    ops: list[dict[str, object]] = [{"op": "add", "path": at, "value": {"seed": "x" * seed_bytes}}]
    ops += [{"op": "copy", "from": at, "path": f"{at}/c{i}"} for i in range(copies)]
    return json.dumps(ops).encode()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")
