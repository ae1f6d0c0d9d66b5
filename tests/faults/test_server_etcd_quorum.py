"""A server on a 3-member etcd that loses its quorum turns not-ready within seconds: the member
left still answers the status call, but not a linearizable read (kube-apiserver's etcd check)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.serverfaults import call
from tests.support.etcd import etcd_installed
from tests.support.etcdcluster import EtcdCluster
from tests.support.server import ServerProcess, start_server_process
from tests.support.wait import wait_until


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EtcdCluster]:
    if not etcd_installed():
        pytest.skip("etcd is not installed")
    cluster = EtcdCluster.start(tmp_path / "etcd", members=3)
    yield cluster
    cluster.stop()


def _readyz(srv: ServerProcess) -> tuple[int, str]:
    return call(srv.url + "/readyz?verbose", context=srv.ssl_context(), timeout=5)


def _failing_readyz(srv: ServerProcess) -> str | None:
    code, text = _readyz(srv)
    return text if code == 503 else None


def test_readyz_fails_when_etcd_loses_its_quorum(cluster: EtcdCluster, tmp_path: Path) -> None:
    srv = start_server_process(tmp_path / "data", "--store", cluster.store_url)
    try:
        assert _readyz(srv)[0] == 200
        cluster.kill(1)
        cluster.kill(2)  # the first member, which the server talks to, is alone
        text = wait_until(
            lambda: _failing_readyz(srv),
            timeout=10,
            message="/readyz to fail once etcd has no quorum",
        )
        assert "[-]store failed: etcd did not answer a quorum read" in text, text
    finally:
        srv.kill()  # a clean stop would wait on etcd for its last writes
