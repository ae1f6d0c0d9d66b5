"""`python -m nodeagent.agent.csrtool`: the agent's cryptography, run in a short-lived child.

cryptography adds ~7 MiB of resident memory to a process that imports it (docs/performance.md);
the agent needs it only to make a key and a CSR, once per serving certificate (a year by
default), so servingport.py runs this module as a child process instead and the agent itself
never imports it.

    python -m nodeagent.agent.csrtool request KEY_OUT NODE_NAME [NAME ...]

writes a new ECDSA P-256 key to KEY_OUT (0600) and prints a PEM CSR as kubelet's serving CSR:
CN system:node:<name>, O system:nodes, the names as IP or DNS subject alternative names (the
server decides what it signs: nodeagent.server.certsigner).

    python -m nodeagent.agent.csrtool check CERT KEY

prints `NOT_BEFORE NOT_AFTER` (unix seconds) when the PEM certificate CERT is for the key in
KEY; exit 1 saying why when it is not, or does not parse.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nodeagent.api.certs import NODES_GROUP, node_user
from nodeagent.privatefiles import write_private


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_csr(key: ec.EllipticCurvePrivateKey, *, node_name: str, names: list[str]) -> bytes:
    """The PEM CSR for `key`: this node's identity and names."""
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


def new_request(*, key_out: Path, node_name: str, names: list[str]) -> bytes:
    """Write a new key to `key_out` (0600) and return the CSR for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(key_out, pem)
    return make_csr(key, node_name=node_name, names=names)


def check(*, cert_pem: bytes, key_pem: bytes) -> tuple[float, float]:
    """(notBefore, notAfter) of the certificate; ValueError when it is not for the key."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if cert.public_key() != key.public_key():
        raise ValueError("the certificate is not for this key")
    return cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()


USAGE = (
    "usage: python -m nodeagent.agent.csrtool request KEY_OUT NODE_NAME [NAME ...]\n"
    "       python -m nodeagent.agent.csrtool check CERT KEY"
)


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "request":
        csr = new_request(key_out=Path(argv[1]), node_name=argv[2], names=argv[3:])
        sys.stdout.buffer.write(csr)
        return 0
    if len(argv) == 3 and argv[0] == "check":
        try:
            times = check(cert_pem=Path(argv[1]).read_bytes(), key_pem=Path(argv[2]).read_bytes())
        except (OSError, ValueError) as e:
            print(f"{argv[1]}: {e}", file=sys.stderr)
            return 1
        print(*times)
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
