"""Schemathesis against the server's own OpenAPI v3 documents, with the admin token: every
operation of every served group-version, its coverage, fuzzing and stateful phases (creates
linked to the reads, updates, patches and deletes of what they created), and no response may
be a 5xx or differ from the document's schema (docs/security.md, "Bounded input").

The document is the server's own, with one narrowing (fieldValidation's three values, see
narrowed_document). Bounded and repeatable: 5 examples per operation, schemathesis's
deterministic generation, one worker per run (schemathesis's workers parse lambdas in threads,
which Python 3.11's ast module does not survive: "AST constructor recursion depth mismatch"),
no example database. The three documents' runs go at once, as three processes against the one
server (about 100 s on two cores, where one after another took 200 s), and they start as the
session starts when this module is selected (conftest.py's pytest_collection_finish), so their
CPU overlaps the many-host tests' waiting instead of adding to the suite's time.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, start_server_process

DOCUMENTS = ["api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1"]


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


@dataclass
class SchemathesisRuns:
    """The server and every document's run against it (stdout and stderr in files: a pipe
    nobody reads for 100 s would fill and stop the run)."""

    base: Path
    server: ServerProcess
    runs: dict[str, tuple[subprocess.Popen[bytes], Path]] = field(default_factory=dict)

    def wait(self, document: str, timeout: float) -> tuple[int, str]:
        run, output = self.runs[document]
        run.wait(timeout=timeout)
        return run.returncode, output.read_text(errors="replace")

    def stop(self) -> None:
        for run, _ in self.runs.values():
            run.kill()
            run.wait()
        self.server.stop()
        shutil.rmtree(self.base, ignore_errors=True)


STARTED: list[SchemathesisRuns] = []  # at most one: the session's


def start_runs() -> SchemathesisRuns:
    """Start the server and the three runs at once (in a directory of their own)."""
    base = Path(tempfile.mkdtemp(prefix="nodeagent-schemathesis-"))
    started = SchemathesisRuns(base, start_server_process(base / "data"))
    STARTED.append(started)
    for document in DOCUMENTS:
        directory = base / document.replace("/", "_")
        directory.mkdir()
        command = _schemathesis_command(
            started.server, narrowed_document(started.server, document, directory)
        )
        output = directory / "output.txt"
        with output.open("wb") as out:
            run = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
        started.runs[document] = (run, output)
    return started


def stop_runs() -> None:
    while STARTED:
        STARTED.pop().stop()


@pytest.fixture(scope="module")
def runs() -> Iterator[SchemathesisRuns]:
    """The session's runs, started early by conftest.py, or now when they were not."""
    yield STARTED[0] if STARTED else start_runs()
    stop_runs()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_no_5xx_and_responses_conform(runs: SchemathesisRuns, document: str) -> None:
    """Schemathesis finds no server error and no response that violates the schema."""
    returncode, output = runs.wait(document, timeout=840)
    report = output[-8000:]
    assert returncode == 0, report
    assert "✅ Stateful" in output, report
    srv = runs.server
    assert srv.log_path is not None
    log = srv.log_path.read_text(errors="replace")
    assert "request_failed" not in log
    assert srv.admin_token not in log
