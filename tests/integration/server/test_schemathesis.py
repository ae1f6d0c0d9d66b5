"""Schemathesis against the server's own OpenAPI v3 documents, with the admin token: every
operation of every served group-version, its coverage, fuzzing and stateful phases (creates
linked to the reads, updates, patches and deletes of what they created), and no response may
be a 5xx or differ from the document's schema (docs/security.md, "Bounded input").

Bounded and repeatable: 5 examples per operation, schemathesis's deterministic generation,
one worker, no example database; about 2.5 minutes on two cores for the three documents.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, start_server_process

DOCUMENTS = ["api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server_process(tmp_path_factory.mktemp("schemathesis") / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_no_5xx_and_responses_conform(srv: ServerProcess, document: str, tmp_path: Path) -> None:
    """Schemathesis finds no server error and no response that violates the schema."""
    command = [sys.executable, "-m", "schemathesis.cli", "run"]
    command += [f"{srv.url}/openapi/v3/{document}", "--url", srv.url]
    command += ["-H", f"Authorization: Bearer {srv.admin_token}", "--tls-verify", str(srv.ca_file)]
    command += ["--checks", "not_a_server_error,response_schema_conformance"]
    command += ["--phases", "coverage,fuzzing,stateful", "--max-examples", "5"]
    command += ["--generation-deterministic"]  # implies no example database
    command += ["--workers", "1", "--request-timeout", "20", "--no-color"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "✅ Stateful" in run.stdout, report
    assert srv.log_path is not None
    log = srv.log_path.read_text(errors="replace")
    assert "request_failed" not in log
    assert srv.admin_token not in log
