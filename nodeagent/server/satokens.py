"""ServiceAccount tokens: signed here (TokenRequest), verified on every request (Authenticator).

The shell around tokenclaims.py (what a token says and whether it still holds) and the
signing key (signingkey.py): PyJWT signs and checks the JWS, its times (with a leeway of
60 s, go-jose's default that kube-apiserver uses), issuer and audience; then the
ServiceAccount and the object the token is bound to are read from the store on every request
(it serves reads from memory), so a token fails on the first request after its
ServiceAccount or pod is gone. What never changes for a token, that its signature, issuer
and audience are good, is remembered for the most recent tokens (by their SHA-256, not their
text): PyJWT's checks cost ~0.5 ms a request, a pod reuses its token for an hour. The times
are checked again on every request. Nothing here logs a token.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt
import structlog

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import NotFound
from nodeagent.server import tokenclaims
from nodeagent.server.auth import User
from nodeagent.server.settings import DEFAULT_ISSUER
from nodeagent.server.signingkey import ALGORITHM, SigningKey
from nodeagent.server.store.protocol import Store

log = structlog.get_logger()
LEEWAY_SECONDS = 60  # go-jose's jwt.DefaultLeeway, which kube-apiserver's validator uses
MAX_TOKEN_BYTES = 16 * 1024  # a bearer token longer than this is no token of ours
VERIFIED_CACHE_SIZE = 10_000  # signatures remembered (~0.5 KiB each)
# A token Secret's token (controllers/tokens.py) lives as long as the Secret: Kubernetes'
# legacy tokens have no expiry; a JWT here needs one, so it is a century.
SECRET_TOKEN_SECONDS = 100 * 365 * 24 * 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    token: str = field(repr=False)
    expires_at: float


@dataclass(slots=True, kw_only=True)
class ServiceAccountTokens:
    """Issues and verifies the tokens of one issuer. `api_audiences`: the audiences the API
    accepts (kube-apiserver's --api-audiences, default the issuer); `max_expiration_seconds`:
    --service-account-max-token-expiration (0: none)."""

    store: Store
    key: SigningKey
    issuer: str = DEFAULT_ISSUER
    api_audiences: tuple[str, ...] = ()
    max_expiration_seconds: int = 0
    clock: Callable[[], float] = time.time
    # sha256(token) -> its claims, for tokens whose signature, issuer and audience passed
    _verified: OrderedDict[bytes, Obj] = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        if not self.api_audiences:
            self.api_audiences = (self.issuer,)

    def issue(
        self,
        *,
        account: Obj,
        audiences: tuple[str, ...],
        expiration_seconds: int,
        now: float,
        pod: Obj | None = None,
        secret: Obj | None = None,
        node: Obj | None = None,
    ) -> Issued:
        """A signed token for `account` (already looked up) valid from `now`."""
        claims = tokenclaims.make_claims(
            issuer=self.issuer,
            audiences=audiences,
            account=account,
            now=now,
            expiration_seconds=expiration_seconds,
            jti=str(uuid.uuid4()),
            pod=pod,
            secret=secret,
            node=node,
        )
        token = jwt.encode(
            claims, self.key.private_key, algorithm=ALGORITHM, headers={"kid": self.key.key_id}
        )
        return Issued(token=token, expires_at=float(claims["exp"]))

    def secret_token(self, account: Obj, secret: Obj) -> str:
        """The token of a `kubernetes.io/service-account-token` Secret: `account`'s, for the
        API's audiences, bound to `secret` (valid until either is deleted)."""
        return self.issue(
            account=account,
            audiences=self.api_audiences,
            expiration_seconds=SECRET_TOKEN_SECONDS,
            now=self.clock(),
            secret=secret,
        ).token

    def _verified_claims(self, token: str) -> Obj | None:
        if len(token) > MAX_TOKEN_BYTES:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(digest)
        if known is not None:
            self._verified.move_to_end(digest)
            in_time = tokenclaims.in_time(known, now=time.time(), leeway=LEEWAY_SECONDS)
            return known if in_time else None
        try:
            claims: Obj = jwt.decode(
                token,
                self.key.public_key,
                algorithms=[ALGORITHM],
                audience=list(self.api_audiences),
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "nbf", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            log.debug("service_account_token_rejected", error=type(exc).__name__)
            return None
        self._verified[digest] = claims
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    async def _get(self, resource: str, namespace: str, name: str) -> Obj | None:
        try:
            return await self.store.get(resource, namespace, name)
        except NotFound:
            return None

    async def user_of(self, token: str) -> User | None:
        """The ServiceAccount user of a valid token, or None (the caller answers 401)."""
        claims = self._verified_claims(token)
        parsed = tokenclaims.parse_claims(claims) if claims is not None else None
        if parsed is None:
            return None
        ns = parsed.namespace
        account = await self._get("serviceaccounts", ns, parsed.account.name)
        pod = await self._get("pods", ns, parsed.pod.name) if parsed.pod else None
        secret = await self._get("secrets", ns, parsed.secret.name) if parsed.secret else None
        reason = tokenclaims.still_bound(
            parsed, account=account, pod=pod, secret=secret, now=self.clock()
        )
        if reason is not None:
            log.debug("service_account_token_unbound", namespace=ns, reason=reason)
            return None
        return tokenclaims.user_of(parsed)
