"""The ServiceAccount token signing key: made on first start, kept 0600, published as a JWKS.

kube-apiserver signs tokens with --service-account-signing-key-file and publishes the public
half at /openid/v1/jwks. Here the server makes an RSA 2048 key in DATA_DIR/sa.key on its
first start (privatefiles.py: 0600 in the 0700 data directory), or reads the file given with
--service-account-signing-key-file. The key id is kube-apiserver's: the unpadded base64url
SHA-256 of the public key's DER (keyIDFromPublicKey). There is no rotation (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from nodeagent.privatefiles import tighten_file, write_private

log = structlog.get_logger()

KEY_FILE = "sa.key"
ALGORITHM = "RS256"
RSA_BITS = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningKey:
    """The private key (never logged: out of repr), its key id and its public JWK."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    key_id: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        """The public key as kube-apiserver's /openid/v1/jwks lists it."""
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {"use": "sig", "kty": "RSA", "kid": self.key_id, "alg": ALGORITHM,
                "n": jwk["n"], "e": jwk["e"]}  # fmt: skip


def key_id(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _from_pem(data: bytes, path: Path) -> SigningKey:
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise ValueError(f"{path}: not a PEM private key without a password") from exc
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: the ServiceAccount signing key must be an RSA key")
    return SigningKey(private_key=loaded, key_id=key_id(loaded.public_key()))


def load_or_create(path: Path, *, create: bool = True) -> SigningKey:
    """The key in `path`; made (RSA 2048, 0600) when the file does not exist and `create`."""
    if path.exists() or not create:
        if create:  # ours, in the data directory (a given file's mode is its owner's)
            tighten_file(path)
        return _from_pem(path.read_bytes(), path)
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(path, pem)
    signing = SigningKey(private_key=key, key_id=key_id(key.public_key()))
    log.info("service_account_key_created", path=str(path), key_id=signing.key_id)
    return signing
