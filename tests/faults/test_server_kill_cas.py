"""Server kill -9 under compare-and-swap load: nothing acknowledged is lost, resourceVersions
never go back, and each object's history is linearizable (linearizability.py). Three kills
over SQLite, one over etcd; the soak (tests/faults/soak.py) runs fifty."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.casload import CasLoad
from tests.faults.linearizability import check
from tests.support.etcd import EtcdProcess, etcd_installed
from tests.support.server import ServerProcess, start_server_process

LOAD_SECONDS = 0.5  # of load between kills


async def kill_under_load(srv: ServerProcess, *, kills: int, seed: int) -> CasLoad:
    """CAS load on `srv` while it is killed -9 and started again `kills` times; checked."""
    load = CasLoad(srv.url, srv.admin_token, srv.ssl_context(), seed=seed, prefix=f"cas{seed}")
    await load.create()
    async with load.running():
        for _ in range(kills):
            await asyncio.sleep(LOAD_SECONDS)
            srv.kill()
            await asyncio.to_thread(srv.start)
        await asyncio.sleep(LOAD_SECONDS)
    problems = check(load.history, initial=load.initial, final=await load.final())
    assert not problems, problems[:10]
    assert load.acknowledged_writes > 0
    return load


async def test_sqlite_server_killed_three_times(tmp_path: Path) -> None:
    srv = start_server_process(tmp_path / "data")
    try:
        await kill_under_load(srv, kills=3, seed=1)
    finally:
        srv.kill()


async def test_etcd_server_killed_once(tmp_path: Path) -> None:
    if not etcd_installed():
        pytest.skip("etcd is not installed")
    etcd = EtcdProcess.start(tmp_path / "etcd")
    srv = start_server_process(tmp_path / "data", "--store", f"etcd://{etcd.endpoint}")
    try:
        await kill_under_load(srv, kills=1, seed=2)
    finally:
        srv.kill()
        etcd.kill()
