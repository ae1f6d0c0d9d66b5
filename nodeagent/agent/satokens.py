"""The ServiceAccount tokens of this node's pods: fetched with TokenRequest, kept, refreshed.

kubelet's token manager (pkg/kubelet/token): the agent, as its node, asks
`POST .../serviceaccounts/SA/token` for each projected `serviceAccountToken` source, bound to
the pod; the server allows a node that only for pods bound to it. `get(spec)` answers from the
cache while a token is fresh, fetches it again once due (api/satoken.py: 80 % of its life, or
24 h), and when that fails keeps serving the old token until it expires, trying again with a
back-off. A token nobody asked for since its pod left is dropped (`keep_pods`). Tokens are never
logged.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from nodeagent.agent.aio import raise_if_cancelling
from nodeagent.api import errors
from nodeagent.api import satoken as T
from nodeagent.api.bodies import Obj

log = structlog.get_logger()


class TokenError(Exception):
    """No token to serve; str() is kubelet's message (`failed to fetch token: ...`)."""


class TokenClient(Protocol):
    async def create(self, path: str, body: Obj) -> Obj: ...


@dataclass(slots=True, kw_only=True)
class TokenManager:
    clock: Callable[[], float] = time.time
    jitter: Callable[[], float] = random.random  # each token's refresh jitter, in [0, 1)
    client: TokenClient | None = None  # the agent's API client while server sync runs
    _held: dict[T.TokenSpec, T.IssuedToken] = field(default_factory=dict)
    _retry: dict[T.TokenSpec, T.RetryState] = field(default_factory=dict)

    async def get(self, spec: T.TokenSpec) -> str:
        """The token to write for `spec` now; TokenError when there is none to serve."""
        now = self.clock()
        held = self._held.get(spec)
        if held is not None and not T.needs_fetch(held, now=now):
            return held.token
        retry = self._retry.get(spec)
        if retry is not None and now < retry.next_at:
            return self._fallback(spec, held, now=now, error=retry.error)
        try:
            issued = await self._fetch(spec, now=now)
        except (ConnectionError, errors.APIError, ValueError) as e:
            raise_if_cancelling()
            error = str(e) or type(e).__name__
            self._retry[spec] = T.after_failure(retry, now=now, error=error)
            log.warning(
                "token_fetch_failed",
                service_account=spec.describe(),
                error=error,
                failures=self._retry[spec].failures,
                serving_old=held is not None and not T.expired(held, now=now),
            )
            return self._fallback(spec, held, now=now, error=error)
        self._held[spec] = issued
        self._retry.pop(spec, None)
        log.info(
            "token_fetched",
            service_account=spec.describe(),
            expires_in=round(issued.expires_at - now),
            refresh_in=round(issued.refresh_at - now),
        )
        return issued.token

    def _fallback(
        self, spec: T.TokenSpec, held: T.IssuedToken | None, *, now: float, error: str
    ) -> str:
        """kubelet's answers to a failed fetch: none held, expired, else the old token."""
        if held is None:
            raise TokenError(f"failed to fetch token: {error}")
        if T.expired(held, now=now):
            raise TokenError(f"token {spec.describe()} expired and refresh failed: {error}")
        return held.token

    async def _fetch(self, spec: T.TokenSpec, *, now: float) -> T.IssuedToken:
        if self.client is None:
            raise ConnectionError("no API server to ask")
        answer = await self.client.create(spec.path, T.request_body(spec))
        return T.issued_token(answer, now=now, jitter=self.jitter())

    def keep_pods(self, uids: Iterable[str]) -> None:
        """Drop the tokens (and retry states) of pods not in `uids`: they are gone."""
        live = set(uids)
        self._held = {s: t for s, t in self._held.items() if s.pod_uid in live}
        self._retry = {s: r for s, r in self._retry.items() if s.pod_uid in live}

    def held(self) -> frozenset[T.TokenSpec]:
        return frozenset(self._held)
