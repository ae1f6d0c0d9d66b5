"""PURE: sign an agent's serving certificate request with the fleet CA, as Kubernetes' kubelet
serving signer (kubernetes.io/kubelet-serving) does, and read what a certificate claims (the
proxy's check that an agent presented its node's serving certificate).

The caller has already authenticated the node; this module trusts only that name. What the
CSR asks for is mostly ignored: the subject is always CN `system:node:<node>`, O
`system:nodes`; the usages are serverAuth (with digitalSignature) only; the lifetime is the
server's. From the CSR come its public key (ECDSA P-256/P-384 or RSA of 2048 bits or more) and
its subject alternative names, kept only when they are IP addresses or DNS names, at most
MAX_SANS of them. A CSR that does not parse, whose signature does not match its key, or that
asks for anything else is a CSRError naming what is wrong. Time is a parameter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nodeagent.api.certs import NODES_GROUP, node_user

MAX_CSR_BYTES = 16 * 1024  # a CSR with a few names is under 1 KiB
MAX_SANS = 32  # kubelet asks for its hostname and addresses: a handful
MAX_DNS_NAME = 253
MIN_RSA_BITS = 2048
EC_CURVES = (ec.SECP256R1, ec.SECP384R1)
# Kubernetes' CSR signer backdates notBefore by 5 minutes for clock skew, less for short
# certificates (so that a short one is not mostly in the past). An agent's serving certificate
# is only checked by the server, against the server's clock.
BACKDATE = dt.timedelta(minutes=5)
# The server's own certificates (CA, serving, kubelet-client) are checked by every agent against
# the agent's clock: backdated an hour, as client-go's self-signed ones (GenerateSelfSignedCertKey)
# are, so a host whose clock is up to an hour behind still connects.
SELF_MADE_BACKDATE = dt.timedelta(hours=1)


def self_made_not_before(now: dt.datetime) -> dt.datetime:
    """notBefore of a certificate the server makes for itself at `now`."""
    return now - SELF_MADE_BACKDATE


@dataclass(frozen=True, slots=True, kw_only=True)
class CertClaims:
    """What a certificate says about its holder (nothing here is verified by itself)."""

    common_name: str
    organizations: tuple[str, ...]
    server_auth: bool
    client_auth: bool


def claims_of(cert: x509.Certificate) -> CertClaims:
    """The subject and extended key usage of a parsed certificate."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    try:
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = set()
    return CertClaims(
        common_name=str(cns[0].value) if cns else "",
        organizations=tuple(str(o.value) for o in orgs),
        server_auth=ExtendedKeyUsageOID.SERVER_AUTH in usages,
        client_auth=ExtendedKeyUsageOID.CLIENT_AUTH in usages,
    )


def serving_problem(der: bytes, node_name: str) -> str | None:
    """None when a (verified) DER certificate is node `node_name`'s serving certificate, else
    why not."""
    try:
        claims = claims_of(x509.load_der_x509_certificate(der))
    except ValueError as e:
        return f"the agent's certificate does not parse: {e}"
    want = node_user(node_name)
    if claims.common_name != want:
        return f'the agent presented a certificate for "{claims.common_name}", not "{want}"'
    if not claims.server_auth:
        return "the agent's certificate is not for serving (no serverAuth usage)"
    return None


class CSRError(ValueError):
    """The certificate request cannot be signed; the message says why."""


def _check_key(csr: x509.CertificateSigningRequest) -> None:
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, EC_CURVES):
            raise CSRError(f"spec.request: ECDSA curve {key.curve.name} is not P-256 or P-384")
        return
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CSRError(f"spec.request: an RSA key of {key.key_size} bits is too small")
        return
    raise CSRError("spec.request: the key must be ECDSA (P-256, P-384) or RSA")


def requested_sans(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    """The CSR's IP addresses and DNS names; CSRError for any other kind, or too many."""
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = list(ext)
    if len(names) > MAX_SANS:
        raise CSRError(f"spec.request: {len(names)} subject alternative names, at most {MAX_SANS}")
    out: list[x509.GeneralName] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            if not name.value or len(name.value) > MAX_DNS_NAME or "*" in name.value:
                raise CSRError(f"spec.request: DNS name {name.value!r} is not allowed")
            out.append(name)
        elif isinstance(name, x509.IPAddress):
            out.append(name)
        else:
            raise CSRError(
                f"spec.request: a {type(name).__name__} name is not allowed "
                "(only IP addresses and DNS names)"
            )
    return out


def load_csr(pem: bytes) -> x509.CertificateSigningRequest:
    """A CSR from PEM, its signature checked; CSRError naming the problem."""
    if len(pem) > MAX_CSR_BYTES:
        raise CSRError(f"spec.request: {len(pem)} bytes, at most {MAX_CSR_BYTES}")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as e:
        raise CSRError(f"spec.request: not a PEM certificate request: {e}") from None
    if not csr.is_signature_valid:
        raise CSRError("spec.request: the request's signature does not match its key")
    return csr


def sign_serving(
    *,
    csr_pem: bytes,
    node_name: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> bytes:
    """The PEM serving certificate for `node_name` over the CSR's key and allowed names."""
    csr = load_csr(csr_pem)
    _check_key(csr)
    # key encipherment only for RSA (TLS 1.2 RSA key exchange); ECDSA keys only sign
    sans = requested_sans(csr)
    backdate = min(BACKDATE, lifetime / 10)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
                    x509.NameAttribute(NameOID.COMMON_NAME, node_user(node_name)),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(csr.public_key(), rsa.RSAPublicKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)
