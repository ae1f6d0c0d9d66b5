"""PURE: the claims of a ServiceAccount token, and whether a verified token is still bound.

What kube-apiserver puts in a token (pkg/serviceaccount/claims.go): iss, sub
`system:serviceaccount:NS:NAME`, aud, exp, iat, nbf, jti, and the private claim
`kubernetes.io: {namespace, serviceaccount{name,uid}, pod|secret{name,uid}, node{name,uid}}`.
What its validator checks once the signature, times and audience are good: the
ServiceAccount, and the pod or secret the token is bound to, still exist with the uids the
token names, and were not deleted more than 60 s ago (invalidIfDeletedBefore). The user it
then is (ServiceAccountInfo.UserInfo): the ServiceAccount's name, uid and groups, with the
pod, node and credential id as extra.

No I/O, no clock, no crypto: the shell (server/satokens.py) signs and verifies the JWT,
reads the objects and passes `now`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nodeagent.api import serviceaccounts, timefmt
from nodeagent.api.bodies import Obj
from nodeagent.server.auth import User

PRIVATE_CLAIM = "kubernetes.io"
# how long a deleted (terminating) bound object keeps its tokens valid
DELETED_GRACE_SECONDS = 60.0

# user.Info extra keys kube-apiserver sets for ServiceAccount tokens
EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name"
EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid"
EXTRA_NODE_NAME = "authentication.kubernetes.io/node-name"
EXTRA_NODE_UID = "authentication.kubernetes.io/node-uid"
EXTRA_CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ref:
    name: str
    uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenClaims:
    """The private claims of a verified token, and its jti."""

    namespace: str
    account: Ref
    pod: Ref | None = None
    secret: Ref | None = None
    node: Ref | None = None
    jti: str = ""


def _ref_of(obj: Obj | None) -> Ref | None:
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    return Ref(name=str(meta.get("name") or ""), uid=str(meta.get("uid") or ""))


def _ref_json(ref: Ref) -> Obj:
    return {"name": ref.name, "uid": ref.uid}


def make_claims(
    *,
    issuer: str,
    audiences: tuple[str, ...],
    account: Obj,
    now: float,
    expiration_seconds: int,
    jti: str,
    pod: Obj | None = None,
    secret: Obj | None = None,
    node: Obj | None = None,
) -> Obj:
    """The claims of a token for `account`, valid from `now` for `expiration_seconds`,
    bound to `pod` (and its `node`) or `secret` when given."""
    meta = account.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    private: Obj = {
        "namespace": namespace,
        "serviceaccount": {"name": name, "uid": str(meta.get("uid") or "")},
    }
    pod_ref, secret_ref, node_ref = _ref_of(pod), _ref_of(secret), _ref_of(node)
    if pod_ref is not None:
        private["pod"] = _ref_json(pod_ref)
        if node_ref is not None:
            private["node"] = _ref_json(node_ref)
    elif secret_ref is not None:
        private["secret"] = _ref_json(secret_ref)
    issued = int(now)
    return {
        "aud": list(audiences),
        "exp": issued + expiration_seconds,
        "iat": issued,
        "iss": issuer,
        "jti": jti,
        PRIVATE_CLAIM: private,
        "nbf": issued,
        "sub": serviceaccounts.username(namespace, name),
    }


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _claim_ref(value: Any) -> Ref | None:
    if not isinstance(value, dict):
        return None
    return Ref(name=str(value.get("name") or ""), uid=str(value.get("uid") or ""))


def parse_claims(claims: Obj) -> TokenClaims | None:
    """The private claims of a token whose signature, times and audience were checked, or
    None when they are not a ServiceAccount's (no namespace or name, or a sub that disagrees)."""
    private = _map(claims.get(PRIVATE_CLAIM))
    namespace = str(private.get("namespace") or "")
    account = _claim_ref(private.get("serviceaccount"))
    if not namespace or account is None or not account.name or not account.uid:
        return None
    if claims.get("sub") != serviceaccounts.username(namespace, account.name):
        return None
    return TokenClaims(
        namespace=namespace,
        account=account,
        pod=_claim_ref(private.get("pod")),
        secret=_claim_ref(private.get("secret")),
        node=_claim_ref(private.get("node")),
        jti=str(claims.get("jti") or ""),
    )


def in_time(claims: Obj, *, now: float, leeway: float) -> bool:
    """Whether `now` is within the token's nbf and exp, with `leeway` seconds either side
    (what the JWT library checked when the signature was; asked again on every request)."""
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or now > exp + leeway:
        return False
    return not isinstance(nbf, int | float) or now >= nbf - leeway


def _gone(kind: str, namespace: str, ref: Ref, obj: Obj | None, now: float) -> str | None:
    """Why a token naming `ref` no longer holds, given the object as stored now."""
    if obj is None:
        return f'{kind} "{ref.name}" not found'
    meta = obj.get("metadata") or {}
    if str(meta.get("uid") or "") != ref.uid:
        return f"{kind} UID ({meta.get('uid')}) does not match claim ({ref.uid})"
    deleted = meta.get("deletionTimestamp")
    if isinstance(deleted, str) and deleted:
        try:
            stamp = timefmt.parse_time(deleted)
        except ValueError:
            stamp = now - 2 * DELETED_GRACE_SECONDS  # unreadable: treat it as long deleted
        if stamp < now - DELETED_GRACE_SECONDS:
            return f"{kind} {namespace}/{ref.name} has been deleted"
    return None


def still_bound(
    claims: TokenClaims,
    *,
    account: Obj | None,
    pod: Obj | None = None,
    secret: Obj | None = None,
    now: float,
) -> str | None:
    """None when the token's ServiceAccount (and bound pod or secret) still stand, else why
    not; `account`, `pod`, `secret` are the objects the token names as stored now (None:
    not found)."""
    reason = _gone("serviceaccount", claims.namespace, claims.account, account, now)
    if reason is None and claims.secret is not None:
        reason = _gone("secret", claims.namespace, claims.secret, secret, now)
    if reason is None and claims.pod is not None:
        reason = _gone("pod", claims.namespace, claims.pod, pod, now)
    return reason


def user_of(claims: TokenClaims) -> User:
    """The user a valid token authenticates as (ServiceAccountInfo.UserInfo, with the group
    system:authenticated the authenticator adds to everyone)."""
    extra: dict[str, tuple[str, ...]] = {}
    if claims.pod is not None and claims.pod.name and claims.pod.uid:
        extra[EXTRA_POD_NAME] = (claims.pod.name,)
        extra[EXTRA_POD_UID] = (claims.pod.uid,)
    if claims.jti:
        extra[EXTRA_CREDENTIAL_ID] = (f"JTI={claims.jti}",)
    if claims.node is not None and claims.node.name:
        extra[EXTRA_NODE_NAME] = (claims.node.name,)
        if claims.node.uid:
            extra[EXTRA_NODE_UID] = (claims.node.uid,)
    return User(
        name=serviceaccounts.username(claims.namespace, claims.account.name),
        uid=claims.account.uid,
        groups=(*serviceaccounts.groups(claims.namespace), "system:authenticated"),
        extra=extra,
    )
