"""Shared fixtures for the API core tests: the seeds' DaemonSets as decoded objects."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from nodeagent.api.decode import decode_documents

FIXTURES = Path(__file__).parent / "fixtures"
SEED_FILES = sorted(FIXTURES.glob("*.yaml"))


def load_fixture(name: str) -> dict[str, Any]:
    text = (FIXTURES / name).read_text()
    (obj,) = decode_documents(text, source=name)
    return obj


@pytest.fixture
def fluentd() -> dict[str, Any]:
    """A fresh copy of seed 004's fluentd-elasticsearch DaemonSet."""
    return copy.deepcopy(load_fixture("fluentd-elasticsearch-seed004.yaml"))
