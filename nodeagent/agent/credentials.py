"""The agent's own credential: node password, bearer token, enrolment and rotation.

Files in the state dir, 0600: `node-password` (made once, random; it binds this host to its node
name on the server, as k3s's /etc/rancher/node/password does) and `node-credential.json` (the
bearer token the server issued for `system:node:<name>`, when it came and how long it lives).
With no stored token the agent enrols: `POST /nodeagent.io/v1/enrol` with the join secret and
the node password. The token then goes with every request. A 401 to it (expired, revoked by
`kubectl delete node`) re-enrols once per rejected token. In the background the token is rotated
(`POST /nodeagent.io/v1/token`) at a jittered 70 to 90 % of its lifetime, without a restart;
running watches keep going. The join secret is read from --token-file only to enrol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog

from nodeagent.agent.apiclient import ApiClient, Unreachable
from nodeagent.agent.statedirwrites import StateDirWrites
from nodeagent.api import errors
from nodeagent.api.timefmt import parse_time
from nodeagent.api.tokens import Lifetime, node_of_credential
from nodeagent.privatefiles import ensure_private_dir, write_private

log = structlog.get_logger()

PASSWORD_FILE = "node-password"
CREDENTIAL_FILE = "node-credential.json"
ENROL_PATH = "/nodeagent.io/v1/enrol"
TOKEN_PATH = "/nodeagent.io/v1/token"
RETRY_SECONDS = (1.0, 30.0)  # a failed rotation is retried after 1 s doubling to 30 s


@dataclass(frozen=True, slots=True, kw_only=True)
class Held:
    """The token in use and its lifetime on this host's clock."""

    token: str
    lifetime: Lifetime


def node_password(state_dir: str) -> str:
    """The host's node password, made on first use."""
    path = Path(state_dir) / PASSWORD_FILE
    with contextlib.suppress(FileNotFoundError):
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    ensure_private_dir(Path(state_dir))
    value = secrets.token_urlsafe(32)
    write_private(path, value + "\n")
    log.info("node_password_created", file=str(path))
    return value


def load_held(state_dir: str, node_name: str) -> Held | None:
    """The stored credential for `node_name`, or None (none, unreadable, or another node's)."""
    path = Path(state_dir) / CREDENTIAL_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        held = Held(
            token=str(data["token"]),
            lifetime=Lifetime(
                received_at=float(data["receivedAt"]),
                lifetime_seconds=float(data["lifetimeSeconds"]),
            ),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("node_credential_unreadable", file=str(path), error=type(exc).__name__)
        return None
    if node_of_credential(held.token) != node_name:
        log.info("node_credential_for_another_node", file=str(path), node=node_name)
        return None
    return held


def save_held(state_dir: str, held: Held) -> None:
    ensure_private_dir(Path(state_dir))
    data = {
        "token": held.token,
        "receivedAt": held.lifetime.received_at,
        "lifetimeSeconds": held.lifetime.lifetime_seconds,
    }
    write_private(Path(state_dir) / CREDENTIAL_FILE, json.dumps(data) + "\n")


def held_from_reply(reply: Mapping[str, object], *, received_at: float) -> Held:
    """A NodeCredential reply -> Held; ValueError naming the field when it is not one."""
    status = reply.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("token"), str):
        raise ValueError("status.token: missing from the server's NodeCredential")
    seconds = status.get("expirationSeconds")
    if not isinstance(seconds, int | float) or seconds <= 0:
        stamp = status.get("expirationTimestamp")
        if not isinstance(stamp, str):
            raise ValueError("status.expirationSeconds: missing from the server's NodeCredential")
        seconds = parse_time(stamp) - received_at
    return Held(
        token=status["token"],
        lifetime=Lifetime(received_at=received_at, lifetime_seconds=max(float(seconds), 1.0)),
    )


class NodeCredential:
    """The agent's TokenSource (apiclient.py): enrols when it has no token or it is refused,
    and rotates it in `run_rotation`."""

    def __init__(
        self,
        *,
        node_name: str,
        state_dir: str,
        join_secret: Callable[[], str | None],
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        writes: StateDirWrites | None = None,
    ) -> None:
        self.node_name = node_name
        self.state_dir = state_dir
        self._writes = writes  # records (and retries) a failed save; None: logged only
        self._join_secret = join_secret
        self._clock = clock
        self._jitter = jitter
        self._lock = asyncio.Lock()
        self._held: Held | None = load_held(state_dir, node_name)
        self._changed = asyncio.Event()  # a new token arrived: the rotation plans anew

    @property
    def held(self) -> Held | None:
        return self._held

    def _live(self) -> Held | None:
        """The held credential unless it expired (on this host's clock) while the agent was
        off: sending it would only earn a 401."""
        held = self._held
        return held if held is not None and held.lifetime.expires_at > self._clock() else None

    async def token(self, client: ApiClient) -> str:
        held = self._live()
        if held is not None:
            return held.token
        async with self._lock:
            held = self._live()
            if held is None:
                await self._enrol(client)
                held = self._held
            assert held is not None
            return held.token

    async def rejected(self, client: ApiClient, token: str) -> None:
        async with self._lock:
            if self._held is not None and self._held.token != token:
                return  # renewed meanwhile by another request
            log.warning("node_credential_rejected", node=self.node_name)
            await self._enrol(client)

    def _take(self, reply: dict[str, object], *, received_at: float) -> None:
        """Keep the credential in a reply; an APIError (which every caller retries) when the
        reply is not one for this node."""
        try:
            held = held_from_reply(reply, received_at=received_at)
            if node_of_credential(held.token) != self.node_name:
                raise ValueError("status.token: the server issued a token for another node")
        except ValueError as exc:
            raise errors.APIError(f"the server's NodeCredential: {exc}") from None
        path = Path(self.state_dir) / CREDENTIAL_FILE
        if self._writes is not None:  # kept in memory meanwhile; saved once the disk allows
            self._writes.write(str(path), partial(save_held, self.state_dir, held))
        else:
            try:
                save_held(self.state_dir, held)
            except OSError as exc:  # kept in memory: the next start enrols again
                log.warning("node_credential_not_saved", file=str(path), error=exc.strerror)
        self._held = held
        self._changed.set()

    async def _enrol(self, client: ApiClient) -> None:
        """Enrol with the join secret and node password; APIError or Unreachable when not."""
        secret = await asyncio.to_thread(self._join_secret)
        if not secret:
            raise errors.Unauthorized("no join secret (--token-file) to enrol with")
        try:
            password = await asyncio.to_thread(node_password, self.state_dir)
        except OSError as exc:  # an APIError: every caller retries those
            path = Path(self.state_dir) / PASSWORD_FILE
            raise errors.APIError(f"{path}: cannot read or make it: {exc.strerror}") from None
        received_at = self._clock()
        reply = await client.request(
            "POST",
            ENROL_PATH,
            body={"nodeName": self.node_name, "nodePassword": password},
            bearer=secret,
        )
        await asyncio.to_thread(self._take, reply, received_at=received_at)
        log.info("node_enrolled", node=self.node_name)

    async def rotate(self, client: ApiClient) -> None:
        """Swap the token for a new one (a 401 re-enrols instead)."""
        async with self._lock:
            held = self._held
            if held is None:
                await self._enrol(client)
                return
            received_at = self._clock()
            try:
                reply = await client.request("POST", TOKEN_PATH, bearer=held.token)
            except errors.Unauthorized:
                log.warning("node_credential_rejected", node=self.node_name)
                await self._enrol(client)
                return
            await asyncio.to_thread(self._take, reply, received_at=received_at)
        log.info("node_token_rotated", node=self.node_name)

    async def run_rotation(self, client: ApiClient) -> None:
        """Rotate at a jittered 70-90 % of each token's lifetime, until cancelled; failures
        are retried (1 s doubling to 30 s) and never end the task."""
        failures = 0
        while True:
            held = self._held
            if held is None:
                await self._changed.wait()
                self._changed.clear()
                continue
            delay = held.lifetime.rotate_at(self._jitter()) - self._clock()
            if delay > 0:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._changed.wait()
                    continue  # a new token came (re-enrolment): plan again
            try:
                await self.rotate(client)
                failures = 0
            except (Unreachable, errors.APIError) as exc:
                failures += 1
                wait = min(RETRY_SECONDS[1], RETRY_SECONDS[0] * 2 ** (failures - 1))
                log.warning("node_token_rotation_failed", error=str(exc), retry_in=wait)
                await asyncio.sleep(wait)
