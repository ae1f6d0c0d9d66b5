"""The RBAC policy the authorizer reads, kept current from watches of the four RBAC kinds.

`RBACIndex(registry)` lists and watches Roles, ClusterRoles, RoleBindings and
ClusterRoleBindings (one Informer each) and compiles them into an rbac.Policy when one
changes: the compile happens at the first decision after a change, so a burst of events costs
one compile, and a change is in force as soon as its watch event has arrived (milliseconds
on one server; each server of an etcd cluster keeps its own index). Before the first lists
have arrived the policy is empty, so only system:masters and the node authorizer allow:
`synced` says when it is complete (the server waits for it before it serves).
"""

from __future__ import annotations

import asyncio
import contextlib

from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.workqueue import Informer, wait_synced
from nodeagent.server.rbac import EMPTY, Policy
from nodeagent.server.registry_protocol import Registry

KINDS = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")


class RBACIndex:
    def __init__(self, registry: Registry) -> None:
        self.informers = {r: Informer(registry=registry, resource=r) for r in KINDS}
        for informer in self.informers.values():
            informer.add_handler(self._changed)
        self._policy: Policy = EMPTY
        self._dirty = True
        self.compiles = 0  # how many times the policy was compiled (bench, tests)
        self._task: asyncio.Task[None] | None = None

    def _changed(self, _old: Obj | None, _new: Obj | None) -> None:
        self._dirty = True

    @property
    def policy(self) -> Policy:
        if self._dirty:
            self._dirty = False
            self._policy = Policy.build(
                roles=self.informers["roles"].list(),
                cluster_roles=self.informers["clusterroles"].list(),
                role_bindings=self.informers["rolebindings"].list(),
                cluster_role_bindings=self.informers["clusterrolebindings"].list(),
            )
            self.compiles += 1
        return self._policy

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """One RBAC object as last seen by the watch."""
        return self.informers[resource].get(namespace, name)

    async def run(self) -> None:
        """List and watch the four kinds until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for resource, informer in self.informers.items():
                tg.create_task(informer.run(), name=f"rbac-{resource}")

    async def start(self, *, timeout: float | None = None) -> None:
        """Run in a task of its own; return once every kind has been listed."""
        self._task = asyncio.create_task(self.run(), name="rbac-index")
        await self.wait_synced(timeout)

    async def stop(self) -> None:
        """Stop watching (before the store ends its watches: an Informer re-watches at once
        when a watch ends, and the store's end would have it spin)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_synced(self, timeout: float | None = None) -> None:
        await wait_synced(*self.informers.values(), timeout=timeout)
