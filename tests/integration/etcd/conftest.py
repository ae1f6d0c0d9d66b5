"""Fixtures for the etcd store's tests: one etcd for the session, wiped before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from nodeagent.server.store.etcd import EtcdStore
from tests.support.etcd import EtcdProcess, etcd_installed


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """Debian's etcd on free ports, shared by the session's tests."""
    if not etcd_installed():
        pytest.skip("etcd is not installed")
    etcd = EtcdProcess.start(tmp_path_factory.mktemp("etcd"))
    yield etcd
    etcd.stop()


@pytest.fixture
def etcd(etcd_server: EtcdProcess) -> EtcdProcess:
    """The session's etcd with an empty keyspace."""
    etcd_server.wipe()
    return etcd_server


@pytest.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[EtcdStore]:
    s = await EtcdStore.open([etcd.url], watch_window=100)
    yield s
    await s.close()
