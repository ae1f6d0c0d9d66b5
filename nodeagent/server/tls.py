"""The server's TLS material: the fleet CA, a serving certificate, the kubelet-client identity.

`ensure_ca(data_dir)` keeps DIR/ca.crt and DIR/ca.key, made once: the fleet CA, which signs
the server's own serving certificate, the agents' serving certificates (certsigner.py) and
the server's client identity towards the agents. `ensure_tls(data_dir, sans)` keeps
DIR/tls.crt, DIR/tls.key: made again whenever it does not cover every wanted name and address
(e.g. a new --tls-san), always signed by the same CA, so clients that trust DIR/ca.crt keep
working. `ensure_kubelet_client(data_dir)` keeps DIR/kubelet-client.crt and .key (CN
kube-apiserver-kubelet-client, clientAuth only), the identity the logs/exec proxy presents to
agents (kube-apiserver's --kubelet-client-certificate). ECDSA P-256 keys; files written
atomically (nodeagent.privatefiles), keys 0600, certificates 0644.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from asyncio import sslproto
from dataclasses import dataclass
from pathlib import Path

import psutil
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nodeagent.api.certs import KUBELET_CLIENT_CN
from nodeagent.privatefiles import PUBLIC_FILE, ensure_private_dir, tighten_file, write_private
from nodeagent.server.certsigner import self_made_not_before

log = structlog.get_logger()

CA_YEARS = 10
SERVING_YEARS = 5
KUBELET_CLIENT_YEARS = 5
# the kubelet-client certificate is made again at start when it has less than this left
KUBELET_CLIENT_RENEW_BEFORE = dt.timedelta(days=365)
# the plaintext read per call on a TLS connection: one full TLS record (16 KiB)
TLS_READ_BUFFER = 16 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetCA:
    """The fleet CA in memory (it signs) and the file clients trust."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    path: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeletClientFiles:
    """The server's client identity towards agents, and the CA their certificates chain to."""

    cert: Path
    key: Path
    ca: Path

    def context(self) -> ssl.SSLContext:
        """A client context: presents the kubelet-client certificate, trusts only the fleet CA,
        no hostname check (the proxy checks the agent's node identity instead)."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.check_hostname = False
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSFiles:
    cert: Path
    key: Path
    ca: Path  # the CA that clients should trust ("" parts of a given cert: its own file)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def shrink_tls_read_buffer(size: int = TLS_READ_BUFFER) -> bool:
    """Make asyncio allocate `size` bytes, not 256 KiB, as each TLS connection's read buffer.

    CPython 3.11's asyncio.sslproto.SSLProtocol allocates `max_size` (256 KiB) per connection at
    construction: ~300 KiB of RSS per agent's watch. Set once at server start (the server
    process's TLS connections are its agents' and clients'); False, and nothing changed, when
    this Python has no such attribute (tests/unit/server/test_tls.py checks that it has).
    """
    proto = getattr(sslproto, "SSLProtocol", None)
    current = getattr(proto, "max_size", None)
    if proto is None or not isinstance(current, int):
        log.warning("tls_read_buffer_unchanged", reason="asyncio SSLProtocol has no max_size")
        return False
    if current > size:
        proto.max_size = size
        log.debug("tls_read_buffer_shrunk", before=current, after=size)
    return True


def default_sans(listen_host: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The names a serving certificate should cover: localhost, loopbacks, this host's name,
    the listen address (on a wildcard: every address of this host's interfaces, so agents on
    other hosts can reach it by IP, as kube-apiserver's advertise address), and extras."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    if listen_host in ("", "0.0.0.0", "::"):
        names += _interface_addresses()
    else:
        names.append(listen_host)
    names += list(extra)
    return tuple(dict.fromkeys(n for n in names if n))


def _interface_addresses() -> list[str]:
    out: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6) and "%" not in a.address:
                out.append(a.address)
    return sorted(out)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san_entries(sans: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in sans:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _covers(cert: x509.Certificate, sans: tuple[str, ...]) -> bool:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in ext.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in ext.get_values_for_type(x509.IPAddress)}
    wanted = {str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in sans}
    return wanted <= have


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _make_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nodeagent-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(self_made_not_before(now))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_serving(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    sans: tuple[str, ...],
    now: dt.datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nodeagent-server")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(self_made_not_before(now))
        .not_valid_after(now + dt.timedelta(days=365 * SERVING_YEARS))
        .add_extension(x509.SubjectAlternativeName(_san_entries(sans)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    tighten_file(path)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an ECDSA key")
    return loaded


def ensure_ca(data_dir: Path) -> FleetCA:
    """The fleet CA under data_dir: DIR/ca.crt and DIR/ca.key, made once."""
    ensure_private_dir(data_dir)
    path, key_path = data_dir / "ca.crt", data_dir / "ca.key"
    if path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        return FleetCA(cert=cert, key=_load_key(key_path), path=path)
    key, cert = _make_ca(dt.datetime.now(dt.UTC))
    write_private(key_path, _key_pem(key))
    write_private(path, cert.public_bytes(serialization.Encoding.PEM), mode=PUBLIC_FILE)
    log.info("tls_ca_created", path=str(path))
    return FleetCA(cert=cert, key=key, path=path)


def ensure_tls(data_dir: Path, sans: tuple[str, ...]) -> TLSFiles:
    """Make (or reuse) the CA and a serving certificate covering `sans` under data_dir."""
    ca = ensure_ca(data_dir)
    files = TLSFiles(cert=data_dir / "tls.crt", key=data_dir / "tls.key", ca=ca.path)
    if files.cert.exists() and files.key.exists():
        tighten_file(files.key)
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        if _covers(cert, sans) and cert.issuer == ca.cert.subject:
            return files
    key, cert = _make_serving(ca.key, ca.cert, sans, dt.datetime.now(dt.UTC))
    write_private(files.key, _key_pem(key))
    write_private(files.cert, cert.public_bytes(serialization.Encoding.PEM), mode=PUBLIC_FILE)
    log.info("tls_serving_cert_created", path=str(files.cert), sans=list(sans))
    return files


def _make_kubelet_client(
    ca: FleetCA, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, KUBELET_CLIENT_CN)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(self_made_not_before(now))
        .not_valid_after(now + dt.timedelta(days=365 * KUBELET_CLIENT_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return key, cert


def ensure_kubelet_client(data_dir: Path) -> KubeletClientFiles:
    """The server's client identity towards agents under data_dir, made from the fleet CA once
    (and again when it was signed by another CA or has less than a year left)."""
    ca = ensure_ca(data_dir)
    files = KubeletClientFiles(
        cert=data_dir / "kubelet-client.crt", key=data_dir / "kubelet-client.key", ca=ca.path
    )
    now = dt.datetime.now(dt.UTC)
    if files.cert.exists() and files.key.exists():
        tighten_file(files.key)
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        if (
            cert.issuer == ca.cert.subject
            and cert.not_valid_after_utc - now > KUBELET_CLIENT_RENEW_BEFORE
        ):
            return files
    key, cert = _make_kubelet_client(ca, now)
    write_private(files.key, _key_pem(key))
    write_private(files.cert, cert.public_bytes(serialization.Encoding.PEM), mode=PUBLIC_FILE)
    log.info("tls_kubelet_client_created", path=str(files.cert), common_name=KUBELET_CLIENT_CN)
    return files


def client_context(ca_file: Path) -> ssl.SSLContext:
    """An SSL context that trusts only `ca_file` (for tests and agents)."""
    return ssl.create_default_context(cafile=str(ca_file))
