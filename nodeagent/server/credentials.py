"""Node credentials in the store: enrol, rotate, mint, verify and revoke per-node tokens.

The async shell around credentialrules.py. Records live in the server's store (SQLite or etcd)
under an internal resource, so every server on one etcd sees the same ones; each change is a
read-modify-write with compare-and-swap, retried when another server wrote first. Verifying a
token reads the record on every request (the store serves reads from memory): no cache of
verified tokens, so a revoked or expired token fails on its very next request.
Nothing here logs a token or a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import AlreadyExists, Conflict, NotFound
from nodeagent.api.tokens import make_node_token, node_of_credential, secret_hash
from nodeagent.server import credentialrules as rules
from nodeagent.server.store.protocol import Store

log = structlog.get_logger()

DEFAULT_TTL_SECONDS = 30 * 24 * 3600.0
_RETRIES = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """A token just issued: the only moment the server holds it in the clear."""

    node_name: str
    token: str
    expires_at: float
    lifetime_seconds: float


async def revoke_node_credentials(store: Store, node_name: str) -> bool:
    """Delete the node's record (its password binding and every token); False when it had
    none. Called where a Node is deleted (registry.py), through the registry's store, so a
    dry-run delete revokes nothing."""
    try:
        await store.delete(rules.RESOURCE, "", node_name)
    except NotFound:
        return False
    log.info("node_credentials_revoked", node=node_name)
    return True


async def sweep_orphans(store: Store, *, now: float) -> list[str]:
    """Remove the records of names with no Node that have not changed for a while
    (credentialrules.orphans); each delete is conditional on the version read, so a record an
    enrolment just changed stays. The names removed."""
    records, _ = await store.list(rules.RESOURCE)
    nodes, _ = await store.list("nodes")
    names = {str((n.get("metadata") or {}).get("name") or "") for n in nodes}
    removed = []
    for name, version in rules.orphans(records, node_names=names, now=now):
        with contextlib.suppress(NotFound, Conflict):
            await store.delete(rules.RESOURCE, "", name, resource_version=int(version or 0))
            removed.append(name)
            log.info("node_credentials_orphan_removed", node=name)
    return removed


async def run_orphan_sweep(
    store: Store, *, interval: float = 60.0, clock: Callable[[], float] = time.time
) -> None:
    """sweep_orphans every `interval` seconds until cancelled (k3s's node-password controller
    syncs every minute); a failed pass is logged and the next runs on time."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_orphans(store, now=clock())
        except Exception as exc:  # a store hiccup must not end the server's root task
            log.warning("node_credentials_sweep_failed", error=type(exc).__name__)


class NodeCredentials:
    """The server's view of every node's credential record."""

    def __init__(
        self,
        store: Store,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        # tokens minted but whose record may not be written yet: a request with one waits
        self._inflight: dict[str, asyncio.Task[Obj]] = {}

    async def _change(self, node_name: str, change: Callable[[Obj | None], Obj]) -> Obj:
        """Apply `change` to the node's record (None: there is none) with CAS, retried."""
        for _attempt in range(_RETRIES):
            try:
                current: Obj | None = await self.store.get(rules.RESOURCE, "", node_name)
            except NotFound:
                current = None
            new = change(current)
            try:
                if current is None:
                    return await self.store.create(rules.RESOURCE, new)
                meta = dict(new.get("metadata") or {})
                meta["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
                return await self.store.update(rules.RESOURCE, {**new, "metadata": meta})
            except (AlreadyExists, Conflict, NotFound):
                continue  # another writer (or server) came first: read again
        raise Conflict(f'the credentials of node "{node_name}" changed too often; try again')

    def _new_token(self, node_name: str) -> tuple[str, str]:
        token = make_node_token(node_name, secrets.token_urlsafe(32))
        return token, secret_hash(token)

    def _issued(self, node_name: str, token: str, now: float) -> Issued:
        return Issued(
            node_name=node_name,
            token=token,
            expires_at=now + self.ttl_seconds,
            lifetime_seconds=self.ttl_seconds,
        )

    async def enrol(self, node_name: str, password: str) -> Issued:
        """A new token for a host that proved the join secret and this node password.

        Raises credentialrules.PasswordRejected when the name is bound to another password.
        """
        token, token_hash = self._new_token(node_name)
        password_hash = secret_hash(password)
        now = self.clock()
        first = False

        def change(record: Obj | None) -> Obj:
            nonlocal first
            first = record is None or not record.get("passwordHash")
            return rules.enrolled(
                record,
                node_name=node_name,
                password_hash=password_hash,
                token_hash=token_hash,
                now=now,
                ttl=self.ttl_seconds,
            )

        await self._change(node_name, change)
        log.info("node_enrolled", node=node_name, first_enrolment=first)
        return self._issued(node_name, token, now)

    async def rotate(self, node_name: str, used_token: str) -> Issued | None:
        """A new token for the holder of `used_token` (already authenticated); the used one
        lives on for the rotation overlap. None when the record is gone (revoked meanwhile)."""
        token, token_hash = self._new_token(node_name)
        now = self.clock()
        used_hash = secret_hash(used_token)
        revoked = False

        def change(record: Obj | None) -> Obj:
            nonlocal revoked
            if record is None:
                revoked = True
                raise _Revoked
            return rules.rotated(
                record, used_hash=used_hash, new_hash=token_hash, now=now, ttl=self.ttl_seconds
            )

        with contextlib.suppress(_Revoked):
            await self._change(node_name, change)
        if revoked:
            return None
        log.info("node_token_rotated", node=node_name)
        return self._issued(node_name, token, now)

    async def issue(self, node_name: str) -> Issued:
        """A token for `node_name` without enrolment, as the admin asks for one (kubectl create
        token issues a ServiceAccount's); the node's password binding is left as it is."""
        token, token_hash = self._new_token(node_name)
        now = self.clock()
        await self._change(
            node_name,
            lambda record: rules.minted(
                record, node_name=node_name, token_hash=token_hash, now=now, ttl=self.ttl_seconds
            ),
        )
        log.info("node_token_issued", node=node_name)
        return self._issued(node_name, token, now)

    def mint(self, node_name: str) -> str:
        """`issue` for an embedder holding the server in its event loop (tests, benchmarks)
        that cannot wait: the token at once, its record written in the background. Requests
        with it wait for that write."""
        token, token_hash = self._new_token(node_name)
        now = self.clock()
        previous = self._inflight.get(node_name)

        async def write() -> Obj:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            return await self._change(
                node_name,
                lambda record: rules.minted(
                    record,
                    node_name=node_name,
                    token_hash=token_hash,
                    now=now,
                    ttl=self.ttl_seconds,
                ),
            )

        task = asyncio.get_running_loop().create_task(write(), name=f"mint-{node_name}")
        self._inflight[node_name] = task

        def done(finished: asyncio.Task[Obj]) -> None:
            if self._inflight.get(node_name) is finished:
                del self._inflight[node_name]

        task.add_done_callback(done)
        return token

    async def node_of(self, token: str) -> str | None:
        """The node a bearer token speaks for, or None when it is not a live node token."""
        node_name = node_of_credential(token)
        if node_name is None:
            return None
        pending = self._inflight.get(node_name)
        if pending is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)
        try:
            record = await self.store.get(rules.RESOURCE, "", node_name)
        except NotFound:
            return None
        return node_name if rules.token_valid(record, secret_hash(token), self.clock()) else None


class _Revoked(Exception):
    """The record went away during a rotation."""
