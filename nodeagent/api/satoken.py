"""PURE a pod's projected ServiceAccount tokens: what to ask TokenRequest for, and when again.

kubelet's projected volume plugin and token manager (pkg/volume/projected,
pkg/kubelet/token), written anew: each `serviceAccountToken` source of a pod asks for a token
of the pod's ServiceAccount, with the source's audience (none: the API server's own), its
expirationSeconds, and bound to the pod (name and uid). A token is fetched again once 80 % of
its life has passed or it is older than 24 h (less a jitter of up to 10 s); a failed fetch is
retried with the volume manager's back-off (0.5 s doubling to 2 min 2 s) while the old token is
served until it expires. Time and randomness are parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import parse_time

MAX_TTL = 24 * 3600.0  # kubelet's maxTTL: a token older than this is fetched again
MAX_JITTER = 10.0  # seconds taken off the refresh time, drawn once per token
REFRESH_LEFT = 0.2  # fetched again when less than this share of its life is left
RETRY_INITIAL = 0.5  # kubelet's volume operation back-off: 500 ms doubling ...
RETRY_CAP = 122.0  # ... to 2 min 2 s
DEFAULT_EXPIRATION = 3600  # the API server's default for a source without expirationSeconds


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSpec:
    """One token a pod's volume needs (kubelet's cache key: these fields)."""

    namespace: str
    service_account: str
    audience: str  # "" asks for the API server's own audiences
    expiration_seconds: int
    pod_name: str
    pod_uid: str

    @property
    def path(self) -> str:
        """The TokenRequest subresource of the ServiceAccount."""
        return f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{self.service_account}/token"

    def describe(self) -> str:
        """For logs and messages: never the token."""
        return f"{self.namespace}/{self.service_account} for pod {self.pod_name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    token: str
    expires_at: float  # epoch seconds (status.expirationTimestamp)
    refresh_at: float  # when it is fetched again (refresh_time)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryState:
    failures: int
    next_at: float
    error: str


def service_account_of(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def token_spec(pod: Obj, source: Obj) -> TokenSpec:
    """The request of one projected `serviceAccountToken` source of `pod`."""
    meta = pod.get("metadata") or {}
    seconds = source.get("expirationSeconds")
    return TokenSpec(
        namespace=str(meta.get("namespace") or "default"),
        service_account=service_account_of(pod),
        audience=str(source.get("audience") or ""),
        expiration_seconds=DEFAULT_EXPIRATION if seconds is None else int(seconds),
        pod_name=str(meta.get("name", "")),
        pod_uid=str(meta.get("uid", "")),
    )


def token_sources(volume: Obj) -> Iterator[Obj]:
    """The serviceAccountToken sources of a projected volume."""
    for source in (volume.get("projected") or {}).get("sources") or []:
        if isinstance(source.get("serviceAccountToken"), dict):
            yield source["serviceAccountToken"]


def request_body(spec: TokenSpec) -> Obj:
    """The TokenRequest kubelet sends for `spec`."""
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [spec.audience] if spec.audience else [],
            "expirationSeconds": spec.expiration_seconds,
            "boundObjectRef": {
                "kind": "Pod",
                "apiVersion": "v1",
                "name": spec.pod_name,
                "uid": spec.pod_uid,
            },
        },
    }


def refresh_time(*, issued_at: float, expires_at: float, jitter: float) -> float:
    """When a token is fetched again: 80 % of its life passed or 24 h old, less the jitter
    (jitter in [0, 1): its share of MAX_JITTER)."""
    lifetime = max(0.0, expires_at - issued_at)
    early = jitter * MAX_JITTER
    return min(issued_at + MAX_TTL, expires_at - lifetime * REFRESH_LEFT) - early


def issued_token(answer: Obj, *, now: float, jitter: float) -> IssuedToken:
    """The token of a TokenRequest answer; ValueError when it has none or no expiry.

    The life is counted from `now`, as kubelet counts it from expiry - expirationSeconds (the
    server may give a different life than asked; it is its expiry that counts)."""
    status = answer.get("status") or {}
    token = status.get("token")
    expiry = status.get("expirationTimestamp")
    if not isinstance(token, str) or not token:
        raise ValueError("TokenRequest answer has no status.token")
    if not isinstance(expiry, str):
        raise ValueError("TokenRequest answer has no status.expirationTimestamp")
    expires_at = parse_time(expiry)
    return IssuedToken(
        token=token,
        expires_at=expires_at,
        refresh_at=refresh_time(issued_at=now, expires_at=expires_at, jitter=jitter),
    )


def needs_fetch(held: IssuedToken | None, *, now: float) -> bool:
    return held is None or now >= held.refresh_at


def expired(held: IssuedToken, *, now: float) -> bool:
    return now >= held.expires_at


def after_failure(previous: RetryState | None, *, now: float, error: str) -> RetryState:
    """The back-off after a failed fetch: 0.5 s, 1 s, 2 s ... 122 s."""
    failures = (previous.failures if previous else 0) + 1
    delay = min(RETRY_CAP, RETRY_INITIAL * 2 ** (failures - 1))
    return RetryState(failures=failures, next_at=now + delay, error=error)
