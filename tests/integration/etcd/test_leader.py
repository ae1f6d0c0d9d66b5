"""Leader election between two servers' registries on one etcd (server/leader.py): one leads;
a leader cut off from etcd stops leading within the renew deadline, and the other takes over
once the lease has stood still for its duration; back on the network, it does not take over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from nodeagent.server.controllers.leaderelection import LEASE_NAME, LEASE_NAMESPACE, Timings
from nodeagent.server.leader import LeaderElector
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.store.etcd import EtcdStore
from tests.support.etcd import EtcdProcess
from tests.support.tcpproxy import TcpProxy
from tests.support.wait import wait_for

FAST = Timings(lease_duration=3.0, renew_deadline=2.0, retry_period=0.3)  # loaded CI: no flaps


class Candidate:
    """One server's elector; `leads` says whether its lead() is running right now."""

    def __init__(self, store: EtcdStore, me: str) -> None:
        self.registry = StoreRegistry(store)
        self.elector = LeaderElector(self.registry, me=me, timings=FAST)
        self.leads = False
        self.terms = 0

    async def lead(self) -> None:
        self.leads, self.terms = True, self.terms + 1
        try:
            await asyncio.Event().wait()
        finally:
            self.leads = False


@contextlib.asynccontextmanager
async def running(candidate: Candidate) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(candidate.elector.run(candidate.lead))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_cut_off_leader_steps_down_and_the_other_takes_over(etcd: EtcdProcess) -> None:
    async with TcpProxy.running("127.0.0.1", etcd.client_port) as proxy:
        store_a = await EtcdStore.open([f"http://{proxy.endpoint}"], probe_period=0.2)
        store_b = await EtcdStore.open([etcd.url])
        a, b = Candidate(store_a, "a"), Candidate(store_b, "b")
        try:
            await StoreRegistry(store_a).ensure_namespaces()
            async with running(a):
                await wait_for(lambda: a.leads, timeout=10, message="a leads")
                async with running(b):
                    await wait_for(  # b has read the lease a holds, and stays out
                        lambda: b.elector._lease is not None, timeout=10, message="b reads"
                    )
                    lease = await b.registry.get("leases", LEASE_NAMESPACE, LEASE_NAME)
                    assert lease["spec"]["holderIdentity"] == "a"
                    assert not b.leads
                    proxy.cut()
                    await wait_for(lambda: not a.leads, timeout=10, message="a steps down")
                    await wait_for(lambda: b.leads, timeout=10, message="b takes over")
                    lease = await b.registry.get("leases", LEASE_NAMESPACE, LEASE_NAME)
                    assert lease["spec"]["holderIdentity"] == "b"
                    assert lease["spec"]["leaseTransitions"] == 1
                    proxy.restore()
                    await wait_for(lambda: store_a.healthy, timeout=15, message="a reconnects")
                    seen = await a.registry.get("leases", LEASE_NAMESPACE, LEASE_NAME)
                    await wait_for(
                        lambda: (
                            a.elector._lease is not None
                            and a.elector._lease["spec"]["renewTime"] != seen["spec"]["renewTime"]
                        ),
                        timeout=10,
                        message="a reads b's renewals",
                    )
                    assert (a.leads, b.leads, a.terms) == (False, True, 1)
        finally:
            await store_a.close()
            await store_b.close()


async def test_a_clean_stop_releases_the_lease(etcd: EtcdProcess) -> None:
    """A leader that stops cleanly frees the lease, so the next one leads at its next retry."""
    store = await EtcdStore.open([etcd.url])
    try:
        await StoreRegistry(store).ensure_namespaces()
        first = Candidate(store, "first")
        async with running(first):
            await wait_for(lambda: first.leads, timeout=10, message="first leads")
        lease = await first.registry.get("leases", LEASE_NAMESPACE, LEASE_NAME)
        assert lease["spec"]["holderIdentity"] == ""
        second = Candidate(store, "second")
        async with running(second):
            await wait_for(lambda: second.leads, timeout=5, message="second leads")
    finally:
        await store.close()
