"""Every module whose docstring opens with PURE is held to it by an import-linter contract."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pure_modules() -> set[str]:
    found = set()
    for path in (ROOT / "nodeagent").rglob("*.py"):
        if path.read_text().startswith('"""PURE'):
            found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def _checked_modules() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    checked = set()
    for section in config.sections():
        if config[section].get("type") == "forbidden":
            checked |= set(config[section]["source_modules"].split())
    return checked


def test_each_pure_module_is_in_a_forbidden_io_contract() -> None:
    """A module that says PURE is a source module of a forbidden contract (or in one)."""
    checked = _checked_modules()
    missing = {
        m for m in _pure_modules() if not any(m == c or m.startswith(c + ".") for c in checked)
    }
    assert missing == set()
