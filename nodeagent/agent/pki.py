"""The agent's serving key and certificate on disk, the request for a new one, and when to renew.

Owns STATE/pki/ (0700): serving.key (ECDSA P-256, 0600; a new one with every certificate, as
kubelet's certificate manager makes one per CSR), serving.crt (what the server signed),
`make_csr` (the CSR for this node's names and addresses), `usable_certificate` (is the
certificate on disk still good for this CA, these names and now) and `rotation_deadline`
(kubelet's certificate manager: a jittered 70-90 % of the certificate's life; pure, with the
jitter and the clock passed in). Talking to the server is servingport.py's job.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nodeagent.api.certs import NODES_GROUP, claims_of, node_user
from nodeagent.privatefiles import PUBLIC_FILE, ensure_private_dir, tighten_file, write_private

PKI_DIR = "pki"
KEY_FILE = "serving.key"
CERT_FILE = "serving.crt"
ROTATE_FROM = 0.7  # kubelet renews at 70-90 % of the certificate's life, jittered
ROTATE_SPREAD = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingFiles:
    """Where this agent keeps its serving key and certificate."""

    key: Path
    cert: Path

    @classmethod
    def under(cls, state_dir: str) -> ServingFiles:
        base = Path(state_dir) / PKI_DIR
        return cls(key=base / KEY_FILE, cert=base / CERT_FILE)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_key() -> ec.EllipticCurvePrivateKey:
    """A key for the next certificate (written with it: write_pair)."""
    return ec.generate_private_key(ec.SECP256R1())


def current_key(files: ServingFiles) -> ec.EllipticCurvePrivateKey | None:
    """The key on disk (tightened to 0600 if it was looser), or None when there is none that
    loads: the pki directory is made 0700 either way."""
    ensure_private_dir(files.key.parent)
    if not files.key.exists():
        return None
    tighten_file(files.key)
    try:
        loaded = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    except ValueError:
        return None
    return loaded if isinstance(loaded, ec.EllipticCurvePrivateKey) else None


def write_pair(files: ServingFiles, key: ec.EllipticCurvePrivateKey, cert_pem: bytes) -> None:
    """Keep a key (0600) and the certificate the server signed for it (public: 0644, in the
    0700 pki directory). Key first: a crash between the two leaves a pair that does not match,
    which usable_certificate refuses, so the next start asks again."""
    write_private(files.key, _key_pem(key))
    write_private(files.cert, cert_pem, mode=PUBLIC_FILE)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_csr(key: ec.EllipticCurvePrivateKey, *, node_name: str, names: list[str]) -> bytes:
    """A PEM CSR as kubelet's serving CSR: CN system:node:<name>, O system:nodes, and this
    host's names and addresses (the server decides what it signs; certsigner.py)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
            x509.NameAttribute(NameOID.COMMON_NAME, node_user(node_name)),
        ]
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    sans = [_san(n) for n in dict.fromkeys(names) if n]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _names_of(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | {
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    }


def _normal(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def usable_certificate(
    *,
    pem: bytes,
    key: ec.EllipticCurvePrivateKey,
    ca_pems: bytes,
    node_name: str,
    names: list[str],
    now: float,
) -> x509.Certificate | None:
    """PURE: the certificate in `pem` if it is for this key and node, issued by a CA in
    `ca_pems`, covers `names` and is valid at `now`; else None (ask for a new one)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        cas = x509.load_pem_x509_certificates(ca_pems)
    except ValueError:
        return None
    claims = claims_of(cert)
    if (
        cert.public_key() != key.public_key()
        or claims.common_name != node_user(node_name)
        or not claims.not_before <= now < claims.not_after
        or not {_normal(n) for n in names if n} <= _names_of(cert)
    ):
        return None
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return cert
    return None


def rotation_deadline(*, not_before: float, not_after: float, jitter: float) -> float:
    """PURE: when to ask for the next certificate: ROTATE_FROM + jitter x ROTATE_SPREAD of the
    way from not_before to not_after (jitter in [0, 1); kubelet's nextRotationDeadline)."""
    return not_before + (not_after - not_before) * (ROTATE_FROM + ROTATE_SPREAD * jitter)
