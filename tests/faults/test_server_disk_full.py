"""The server's disk fills up (SQLite store): writes fail with the cause named, /readyz says
why and recovers, and each failure is one log line (not a traceback onto the same full disk)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.faults.serverfaults import call, can_mount, fill_disk, small_tmpfs
from tests.support.server import ServerProcess, start_server_process
from tests.support.wait import wait_until

FULL = "database or disk is full"


@pytest.fixture(scope="module")
def server_on_tmpfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    reason = can_mount()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("diskfull")
    with small_tmpfs(base / "data", size="16m") as data:
        srv = start_server_process(data)
        try:
            yield srv
        finally:
            srv.stop()


def _configmap(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


def _create(srv: ServerProcess, name: str) -> tuple[int, str]:
    return call(
        srv.url + "/api/v1/namespaces/default/configmaps",
        "POST",
        _configmap(name),
        token=srv.admin_token,
        context=srv.ssl_context(),
    )


def _readyz(srv: ServerProcess, query: str = "") -> tuple[int, str]:
    return call(srv.url + "/readyz" + query, context=srv.ssl_context())


def _failing_readyz(srv: ServerProcess) -> str | None:
    code, text = _readyz(srv, "?verbose")
    return text if code == 503 else None


def test_a_full_disk_is_named_in_the_answer_the_readiness_and_one_log_line(
    server_on_tmpfs: ServerProcess,
) -> None:
    srv = server_on_tmpfs
    assert _create(srv, "before")[0] == 201
    log_before = srv.log_path.stat().st_size if srv.log_path else 0
    filler = fill_disk(srv.data_dir)
    try:
        # a few writes: the WAL may still have a page or two
        answers = [_create(srv, f"full-{i}") for i in range(20)]
        failed = [(code, text) for code, text in answers if code != 201]
        assert failed, "every write succeeded on a full disk"
        for code, text in failed:
            assert code == 507, text
            status = json.loads(text)
            assert status["reason"] == "InsufficientStorage"
            assert FULL in status["message"]
        text = wait_until(
            lambda: _failing_readyz(srv),
            timeout=10,
            message="/readyz to turn not-ready on a full disk",
        )
        assert f"[-]store failed: the store could not commit: {FULL}" in text, text
        assert "readyz check failed" in text
        assert _create(srv, "before")[0] == 409  # reads (and their answers) still work
    finally:
        filler.unlink()
    assert srv.log_path is not None
    with srv.log_path.open("rb") as f:
        f.seek(log_before)
        lines = [json.loads(line) for line in f.read().splitlines()]
    lines = [e for e in lines if e["level"] != "debug" and e.get("path") != "/readyz"]
    # each failed write: its request line; once for the outage: the store's, the audit log's
    assert len([e for e in lines if e.get("code") == 507]) == len(failed)
    assert len(lines) <= len(failed) + 3, [e["event"] for e in lines]
    assert [e["error"] for e in lines if e["event"] == "store_commit_failed"] == [
        f"the store could not commit: {FULL}"
    ]
    assert not any("exception" in e for e in lines)
    wait_until(
        lambda: _readyz(srv)[0] == 200, timeout=15, message="/readyz back once space returns"
    )
    assert _create(srv, "after")[0] == 201
    assert _readyz(srv, "?verbose")[1].endswith("readyz check passed\n")
