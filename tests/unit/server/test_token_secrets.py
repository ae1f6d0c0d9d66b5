"""The tokens controller's decisions: which token Secrets need filling, and with what."""

from __future__ import annotations

import base64

from nodeagent.api.bodies import Obj
from nodeagent.server.controllers.tokens import filled, needs_filling

CA = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
ACCOUNT: Obj = {"metadata": {"name": "ci", "namespace": "team", "uid": "u-1"}}


def _secret(annotations: dict[str, str] | None = None, **rest: object) -> Obj:
    return {
        "metadata": {
            "name": "ci-token",
            "namespace": "team",
            "annotations": {"kubernetes.io/service-account.name": "ci", **(annotations or {})},
        },
        "type": "kubernetes.io/service-account-token",
        **rest,
    }


def test_an_empty_token_secret_is_filled_once() -> None:
    """token, ca.crt, namespace and the account's uid are added; then nothing is missing."""
    secret = _secret()
    assert needs_filling(secret, ACCOUNT, CA)
    out = filled(secret, ACCOUNT, CA, lambda: "signed")
    assert out["data"] == {
        "token": base64.b64encode(b"signed").decode(),
        "ca.crt": base64.b64encode(CA.encode()).decode(),
        "namespace": base64.b64encode(b"team").decode(),
    }
    assert out["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == "u-1"
    assert not needs_filling(out, ACCOUNT, CA)


def test_a_token_already_there_is_kept() -> None:
    """Only what is missing is added: an existing token is never signed again."""
    secret = _secret(data={"token": "b2xk"})

    def never() -> str:
        raise AssertionError("a new token was signed")

    assert filled(secret, ACCOUNT, CA, never)["data"]["token"] == "b2xk"


def test_what_is_left_alone() -> None:
    """Not a token Secret, no account, another account's uid, or a Secret being deleted."""
    assert not needs_filling({**_secret(), "type": "Opaque"}, ACCOUNT, CA)
    assert not needs_filling(_secret(), None, CA)
    other = _secret({"kubernetes.io/service-account.uid": "u-2"})
    assert not needs_filling(other, ACCOUNT, CA)
    deleting = _secret()
    deleting["metadata"]["deletionTimestamp"] = "2026-12-08T00:00:00Z"
    assert not needs_filling(deleting, ACCOUNT, CA)
