"""The runtime's decision modules stay pure: they import no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nodeagent.runtime

PURE = ("convert.py", "labels.py", "wire.py", "protocol.py")
FORBIDDEN = {"asyncio", "aiohttp", "aiodocker", "os", "shutil", "socket", "subprocess", "pathlib"}


@pytest.mark.parametrize("name", PURE)
def test_module_imports_no_io(name: str) -> None:
    """convert, labels, wire and protocol import none of the I/O modules."""
    path = Path(nodeagent.runtime.__file__).parent / name
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
