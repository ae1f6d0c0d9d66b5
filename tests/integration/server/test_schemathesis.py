"""Schemathesis against the server's own OpenAPI v3 documents, with the admin token: every
operation of every served group-version, its coverage, fuzzing and stateful phases (creates
linked to the reads, updates, patches and deletes of what they created), and no response may
be a 5xx or differ from the document's schema (docs/security.md, "Bounded input").

The document is the server's own, with one narrowing (fieldValidation's three values, see
narrowed_document). Bounded and repeatable: 5 examples per operation, schemathesis's
deterministic generation, one worker per run (schemathesis's workers parse lambdas in threads,
which Python 3.11's ast module does not survive: "AST constructor recursion depth mismatch"),
no example database. The three documents' runs go at once, as three processes against the one
server: about 100 s on two cores, where one after another took 200 s.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
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


def narrowed_document(srv: ServerProcess, document: str, directory: Path) -> Path:
    """The server's document with fieldValidation narrowed to its three values (the server
    publishes it as a plain string, the entry kubectl looks for): random strings there are
    all 422, and the writes would never reach the handlers behind that check."""
    request = urllib.request.Request(f"{srv.url}/openapi/v3/{document}")
    request.add_header("Authorization", f"Bearer {srv.admin_token}")
    context = ssl.create_default_context(cafile=str(srv.ca_file))
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        body = json.loads(response.read())
    for item in body["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter["name"] == "fieldValidation":
                    parameter["schema"] = {"type": "string", "enum": ["Ignore", "Strict", "Warn"]}
    path = directory / "openapi.json"
    path.write_text(json.dumps(body))
    return path


def _schemathesis_command(srv: ServerProcess, document: Path) -> list[str]:
    command = [sys.executable, "-m", "schemathesis.cli", "run"]
    command += [str(document), "--url", srv.url]
    command += ["-H", f"Authorization: Bearer {srv.admin_token}", "--tls-verify", str(srv.ca_file)]
    command += ["--checks", "not_a_server_error,response_schema_conformance"]
    command += ["--phases", "coverage,fuzzing,stateful", "--max-examples", "5"]
    command += ["--generation-deterministic"]  # implies no example database
    command += ["--workers", "1", "--request-timeout", "20", "--no-color"]
    return command


@pytest.fixture(scope="module")
def runs(
    srv: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Every document's schemathesis run, started together; each test waits for its own."""
    started: dict[str, subprocess.Popen[str]] = {}
    try:
        for document in DOCUMENTS:
            directory = tmp_path_factory.mktemp("schemathesis-run")
            command = _schemathesis_command(srv, narrowed_document(srv, document, directory))
            started[document] = subprocess.Popen(
                command, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        yield started
    finally:
        for run in started.values():
            run.kill()
            run.communicate()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_no_5xx_and_responses_conform(
    srv: ServerProcess, runs: dict[str, subprocess.Popen[str]], document: str
) -> None:
    """Schemathesis finds no server error and no response that violates the schema."""
    run = runs[document]
    stdout, stderr = run.communicate(timeout=840)
    report = stdout[-6000:] + stderr[-2000:]
    assert run.returncode == 0, report
    assert "✅ Stateful" in stdout, report
    assert srv.log_path is not None
    log = srv.log_path.read_text(errors="replace")
    assert "request_failed" not in log
    assert srv.admin_token not in log
