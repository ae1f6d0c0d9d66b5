"""ServiceAccount tokens: the claims kube-apiserver puts in them, when a verified token still
holds, the user it is, TokenRequest's spec rules, the signing key, and the node's rules for
serviceaccounts and serviceaccounts/token (authorizer and NodeRestriction)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import jwt
import pytest

from nodeagent.api import serviceaccounts
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import NotFound, Unauthorized
from nodeagent.server import noderestriction, saadmission, tokenclaims
from nodeagent.server.auth import Attributes, Authenticator, User, authorize
from nodeagent.server.controllers.serviceaccounts import missing_defaults
from nodeagent.server.satokens import ServiceAccountTokens
from nodeagent.server.signingkey import load_or_create

ISSUER = "https://kubernetes.default.svc.cluster.local"
NOW = 1_800_000_000.0
ACCOUNT: Obj = {"metadata": {"name": "fluent-bit", "namespace": "logging", "uid": "sa-uid"}}
POD: Obj = {
    "metadata": {"name": "fluent-bit-x1", "namespace": "logging", "uid": "pod-uid"},
    "spec": {"nodeName": "n1", "serviceAccountName": "fluent-bit"},
}
NODE: Obj = {"metadata": {"name": "n1", "uid": "node-uid"}}


def claims(**kw: object) -> Obj:
    args: dict[str, object] = {
        "issuer": ISSUER,
        "audiences": (ISSUER,),
        "account": ACCOUNT,
        "now": NOW,
        "expiration_seconds": 3600,
        "jti": "j-1",
    }
    args.update(kw)
    return tokenclaims.make_claims(**args)  # type: ignore[arg-type]


def test_claims_are_kube_apiservers() -> None:
    """sub, aud, iat/nbf/exp, jti and the kubernetes.io claim with the pod and its node."""
    got = claims(pod=POD, node=NODE)
    assert got == {
        "aud": [ISSUER],
        "exp": int(NOW) + 3600,
        "iat": int(NOW),
        "iss": ISSUER,
        "jti": "j-1",
        "kubernetes.io": {
            "namespace": "logging",
            "serviceaccount": {"name": "fluent-bit", "uid": "sa-uid"},
            "pod": {"name": "fluent-bit-x1", "uid": "pod-uid"},
            "node": {"name": "n1", "uid": "node-uid"},
        },
        "nbf": int(NOW),
        "sub": "system:serviceaccount:logging:fluent-bit",
    }
    secret = {"metadata": {"name": "s", "uid": "s-uid"}}
    assert claims(secret=secret)["kubernetes.io"]["secret"] == {"name": "s", "uid": "s-uid"}
    assert "pod" not in claims()["kubernetes.io"]


def test_user_of_a_pod_bound_token() -> None:
    """The ServiceAccount's name, uid and groups; pod, node and credential id as extra."""
    parsed = tokenclaims.parse_claims(claims(pod=POD, node=NODE))
    assert parsed is not None
    assert tokenclaims.user_of(parsed) == User(
        name="system:serviceaccount:logging:fluent-bit",
        uid="sa-uid",
        groups=("system:serviceaccounts", "system:serviceaccounts:logging", "system:authenticated"),
        extra={
            "authentication.kubernetes.io/pod-name": ("fluent-bit-x1",),
            "authentication.kubernetes.io/pod-uid": ("pod-uid",),
            "authentication.kubernetes.io/credential-id": ("JTI=j-1",),
            "authentication.kubernetes.io/node-name": ("n1",),
            "authentication.kubernetes.io/node-uid": ("node-uid",),
        },
    )


@pytest.mark.parametrize(
    "change",
    [
        {"sub": "system:serviceaccount:logging:other"},
        {"kubernetes.io": {"namespace": "logging"}},
        {"kubernetes.io": {"serviceaccount": {"name": "fluent-bit", "uid": "u"}}},
    ],
    ids=["sub-disagrees", "no-account", "no-namespace"],
)
def test_claims_that_are_no_service_accounts(change: Obj) -> None:
    assert tokenclaims.parse_claims({**claims(), **change}) is None


def _stamp(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


@pytest.mark.parametrize(
    ("account", "pod", "reason"),
    [
        (ACCOUNT, POD, None),
        (None, POD, 'serviceaccount "fluent-bit" not found'),
        (
            {"metadata": {**ACCOUNT["metadata"], "uid": "new"}},
            POD,
            "serviceaccount UID (new) does not match claim (sa-uid)",
        ),
        (ACCOUNT, None, 'pod "fluent-bit-x1" not found'),
        (
            ACCOUNT,
            {"metadata": {**POD["metadata"], "deletionTimestamp": _stamp(30)}},
            None,  # terminating for less than 60 s: still good
        ),
        (
            ACCOUNT,
            {"metadata": {**POD["metadata"], "deletionTimestamp": _stamp(61)}},
            "pod logging/fluent-bit-x1 has been deleted",
        ),
    ],
    ids=["bound", "account-gone", "account-recreated", "pod-gone", "pod-ending", "pod-ended"],
)
def test_still_bound(account: Obj | None, pod: Obj | None, reason: str | None) -> None:
    parsed = tokenclaims.parse_claims(claims(pod=POD))
    assert parsed is not None
    assert tokenclaims.still_bound(parsed, account=account, pod=pod, now=NOW) == reason


@pytest.mark.parametrize(
    ("spec", "expiration", "errors"),
    [
        ({}, 3600, []),
        ({"expirationSeconds": 600}, 600, []),
        (
            {"expirationSeconds": 599},
            599,
            [
                "spec.expirationSeconds: Invalid value: 599: may not specify a duration less "
                "than 10 minutes"
            ],
        ),
        (
            {"expirationSeconds": 2**32 + 1},
            2**32 + 1,
            [
                "spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration "
                "larger than 2^32 seconds"
            ],
        ),
    ],
    ids=["default", "minimum", "too-short", "too-long"],
)
def test_token_request_spec(spec: Obj, expiration: int, errors: list[str]) -> None:
    got, errs = serviceaccounts.token_request_spec({"spec": spec}, api_audiences=(ISSUER,))
    assert got.expiration_seconds == expiration
    assert got.audiences == (ISSUER,)
    assert [str(e) for e in errs] == errors


def test_bindable_kinds() -> None:
    def ref(kind: str, api_version: str = "v1") -> serviceaccounts.BoundObject:
        return serviceaccounts.BoundObject(kind=kind, api_version=api_version, name="x", uid="")

    assert serviceaccounts.bind_refusal(ref("Pod")) is None
    assert serviceaccounts.bind_refusal(ref("Secret")) is None
    assert serviceaccounts.bind_refusal(ref("Node")) == (
        "cannot bind token to object of type /v1, Kind=Node"
    )
    assert serviceaccounts.bind_refusal(ref("Deployment", "apps/v1")) == (
        "cannot bind token to object of type apps/v1, Kind=Deployment"
    )


def test_service_account_names() -> None:
    assert serviceaccounts.username("ns", "a") == "system:serviceaccount:ns:a"
    assert serviceaccounts.split_username("system:serviceaccount:ns:a") == ("ns", "a")
    assert serviceaccounts.split_username("system:node:n1") is None
    bad = {"metadata": {"name": "Bad_Name", "namespace": "ns"}}
    assert [e.field for e in serviceaccounts.validate_service_account(bad)] == ["metadata.name"]


# ---- the signing key and the shell, with objects in a dict


class Objects:
    """The store's get over a dict (what satokens reads)."""

    def __init__(self, *objs: tuple[str, Obj]) -> None:
        self.objs = {
            (r, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for r, o in objs
        }

    async def get(self, resource: str, namespace: str, name: str) -> Obj:
        try:
            return self.objs[(resource, namespace, name)]
        except KeyError:
            raise NotFound(f"{resource} {name!r} not found") from None


def test_signing_key_made_once_0600(tmp_path: Path) -> None:
    path = tmp_path / "sa.key"
    key = load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create(path)
    assert again.key_id == key.key_id
    jwk = key.jwk()
    assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["kid"]) == ("RSA", "RS256", "sig", key.key_id)


async def test_tokens_round_trip_and_fail_when_unbound(tmp_path: Path) -> None:
    """A signed token authenticates while its account and pod stand, and is refused (401)
    once the pod is gone, expired, for another audience or signed by another key."""
    key = load_or_create(tmp_path / "sa.key")
    objects = Objects(("serviceaccounts", ACCOUNT), ("pods", POD))
    tokens = ServiceAccountTokens(store=objects, key=key)  # type: ignore[arg-type]
    auth = Authenticator(admin_token="a", join_secret="j", service_accounts=tokens)
    now = time.time()
    good = tokens.issue(
        account=ACCOUNT, audiences=(ISSUER,), expiration_seconds=3600, now=now, pod=POD
    )
    user = await auth.authenticate(f"Bearer {good.token}")
    assert user.name == "system:serviceaccount:logging:fluent-bit"
    assert user.extra["authentication.kubernetes.io/pod-name"] == ("fluent-bit-x1",)
    header = jwt.get_unverified_header(good.token)
    assert (header["alg"], header["kid"]) == ("RS256", key.key_id)

    expired = tokens.issue(
        account=ACCOUNT, audiences=(ISSUER,), expiration_seconds=600, now=now - 700
    )
    elsewhere = tokens.issue(account=ACCOUNT, audiences=("vault",), expiration_seconds=600, now=now)
    other_key = load_or_create(tmp_path / "other.key")
    forged = jwt.encode(
        tokenclaims.make_claims(
            issuer=ISSUER,
            audiences=(ISSUER,),
            account=ACCOUNT,
            now=now,
            expiration_seconds=600,
            jti="x",
        ),
        other_key.private_key,
        algorithm="RS256",
    )
    del objects.objs[("pods", "logging", "fluent-bit-x1")]
    for token in (good.token, expired.token, elsewhere.token, forged, "eyJ.x.y"):
        with pytest.raises(Unauthorized):
            await auth.authenticate(f"Bearer {token}")


# ---- the node's rules


def _attrs(**kw: object) -> Attributes:
    args: dict[str, object] = {
        "verb": "create",
        "resource": "serviceaccounts",
        "subresource": "token",
        "namespace": "logging",
        "name": "fluent-bit",
    }
    args.update(kw)
    return Attributes(**args)  # type: ignore[arg-type]


N1 = User(name="system:node:n1", groups=("system:nodes", "system:authenticated"), node="n1")


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        (_attrs(referenced=True), None),
        (_attrs(), "no relationship found between node 'n1' and this object"),
        (_attrs(verb="get", subresource="", referenced=True), None),
        (_attrs(verb="get", subresource=""), "no relationship found"),
        (_attrs(verb="list", subresource=""), "can only create tokens for individual"),
        (_attrs(verb="delete", subresource="", referenced=True), "can only create tokens"),
        (_attrs(name="", referenced=True), "can only create tokens for individual"),
    ],
    ids=["token-own", "token-other", "get-own", "get-other", "list", "delete", "no-name"],
)
def test_node_authorizer_service_accounts(attrs: Attributes, reason: str | None) -> None:
    error = authorize(N1, attrs)
    if reason is None:
        assert error is None
    else:
        assert error is not None
        assert reason in error.message


def test_service_account_users_get_no_rights_without_rbac() -> None:
    user = User(name="system:serviceaccount:logging:x", groups=("system:serviceaccounts",))
    error = authorize(user, _attrs(name="other"))
    assert error is not None
    assert error.message == (
        'serviceaccounts "other" is forbidden: User "system:serviceaccount:logging:x" cannot '
        'create resource "serviceaccounts/token" in API group "" in the namespace "logging"'
    )


def _token_write(ref: Obj | None, bound_pod: Obj | None = POD) -> noderestriction.Write:
    return noderestriction.Write(
        operation="CREATE",
        resource="serviceaccounts",
        subresource="token",
        namespace="logging",
        name="fluent-bit",
        obj={"spec": {"boundObjectRef": ref}},
        bound_pod=bound_pod,
    )


POD_REF = {"kind": "Pod", "apiVersion": "v1", "name": "fluent-bit-x1", "uid": "pod-uid"}


@pytest.mark.parametrize(
    ("write", "node", "message"),
    [
        (_token_write(POD_REF), "n1", None),
        (_token_write(None), "n1", "node requested token not bound to a pod"),
        (
            _token_write({**POD_REF, "kind": "Secret"}),
            "n1",
            "node requested token not bound to a pod",
        ),
        (
            _token_write({**POD_REF, "uid": ""}),
            "n1",
            "node requested token with a pod binding without a uid",
        ),
        (_token_write(POD_REF, None), "n1", 'pods "fluent-bit-x1" not found'),
        (
            _token_write({**POD_REF, "uid": "old"}),
            "n1",
            "the UID in the bound object reference (old) does not match the UID in record.",
        ),
        (
            _token_write(POD_REF),
            "n2",
            "node requested token bound to a pod scheduled on a different node",
        ),
    ],
    ids=["own-pod", "unbound", "secret", "no-uid", "no-pod", "uid", "other-node"],
)
def test_node_restriction_token_requests(
    write: noderestriction.Write, node: str, message: str | None
) -> None:
    error = noderestriction.admit(node, write)
    if message is None:
        assert error is None
        return
    assert error is not None
    assert message in error.message
    if "not found" not in message:
        assert error.message.startswith('serviceaccounts "fluent-bit" is forbidden: ')


# ---- pod admission and the default account


def test_pods_default_to_the_default_account() -> None:
    pod: Obj = {"metadata": {"generateName": "ds-"}, "spec": {"containers": []}}
    assert saadmission.account_to_check(pod) == "default"
    assert pod["spec"]["serviceAccountName"] == pod["spec"]["serviceAccount"] == "default"
    old_field: Obj = {"metadata": {"name": "p"}, "spec": {"serviceAccount": "legacy"}}
    assert saadmission.account_to_check(old_field) == "legacy"
    assert old_field["spec"]["serviceAccountName"] == "legacy"
    assert saadmission.missing(pod, namespace="logging", account="default").message == (
        'pods "ds-" is forbidden: error looking up service account logging/default: '
        'serviceaccount "default" not found'
    )


def test_mirror_pods_are_left_alone_and_name_no_account() -> None:
    mirror: Obj = {
        "metadata": {"name": "web-n1", "annotations": {"kubernetes.io/config.mirror": "h"}},
        "spec": {},
    }
    assert saadmission.account_to_check(mirror) is None
    assert mirror["spec"] == {}
    assert saadmission.mirror_refusal(mirror) is None
    mirror["spec"]["serviceAccountName"] = "x"
    refusal = saadmission.mirror_refusal(mirror)
    assert refusal is not None
    assert refusal.message == (
        'pods "web-n1" is forbidden: a mirror pod may not reference service accounts'
    )


def test_missing_defaults() -> None:
    def ns(name: str, **meta: str) -> Obj:
        return {"metadata": {"name": name, **meta}}

    accounts = [{"metadata": {"name": "default", "namespace": "a"}}]
    others = [{"metadata": {"name": "x", "namespace": "b"}}]
    ending = ns("c", deletionTimestamp="2026-01-01T00:00:00Z")
    assert missing_defaults([ns("a"), ns("b"), ending], accounts + others) == ["b"]


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (NOW - 61, False),  # before nbf, past the leeway
        (NOW - 59, True),
        (NOW + 3600 + 59, True),
        (NOW + 3600 + 61, False),  # after exp, past the leeway
    ],
    ids=["early", "early-within-leeway", "late-within-leeway", "expired"],
)
def test_times_are_checked_on_every_request(now: float, ok: bool) -> None:
    """A token whose signature is remembered is still held to its nbf and exp."""
    assert tokenclaims.in_time(claims(), now=now, leeway=60) is ok
