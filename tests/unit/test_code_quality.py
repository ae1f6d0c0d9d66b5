"""The project's own habits, checked as part of the suite: ruff, mypy --strict, import layers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_finds_nothing() -> None:
    """ruff check passes on the package, the tests and the benchmarks."""
    result = _run(str(BIN / "ruff"), "check", "nodeagent", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes() -> None:
    """mypy --strict passes on the package, the benchmarks and the tests
    (`mypy --strict nodeagent bench tests`)."""
    result = _run(str(BIN / "mypy"), "--strict", "nodeagent", "bench", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_hold() -> None:
    """cli -> agent|server -> runtime -> api, and api imports no I/O (import-linter)."""
    result = _run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_lists_every_command() -> None:
    """`nodeagent --help` names each subcommand that exists."""
    result = _run(sys.executable, "-m", "nodeagent", "--help")
    assert result.returncode == 0
    for name in ("agent", "server", "all-in-one", "validate", "version"):
        assert name in result.stdout


def test_one_definition_of_obj_and_name_of() -> None:
    """`Obj` is declared once (api/bodies.py) and `name_of` once (api/meta.py): every other
    module imports them, so a reader meets one type and one accessor, not a local copy each."""
    declared: list[str] = []
    for path in sorted((ROOT / "nodeagent").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py")):
        text = path.read_text()
        relative = str(path.relative_to(ROOT))
        if "\nObj = " in text and relative != "nodeagent/api/bodies.py":
            declared.append(f"{relative}: Obj")
        if "\ndef name_of(" in text and relative != "nodeagent/api/meta.py":
            declared.append(f"{relative}: name_of")
    assert declared == []
