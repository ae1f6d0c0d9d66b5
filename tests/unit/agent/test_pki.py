"""The agent's serving key and certificate files, when to renew, and who may call its port."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nodeagent.agent import pki
from nodeagent.agent.http import caller_problem
from nodeagent.server.certsigner import sign_serving

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


CA_KEY, CA = _ca("fleet")
OTHER_KEY, OTHER = _ca("other")


@pytest.mark.parametrize(
    ("jitter", "at"), [(0.0, 1070.0), (0.5, 1080.0), (0.999, 1089.98)], ids=["70", "80", "90"]
)
def test_rotation_deadline_is_70_to_90_percent_of_the_life(jitter: float, at: float) -> None:
    deadline = pki.rotation_deadline(not_before=1000.0, not_after=1100.0, jitter=jitter)
    assert deadline == pytest.approx(at)


def test_key_and_certificate_files(tmp_path: Path) -> None:
    """serving.key is 0600 in a 0700 pki directory and loads back; serving.crt is public; a
    looser key left by hand is tightened."""
    files = pki.ServingFiles.under(str(tmp_path))
    assert pki.current_key(files) is None
    assert stat.S_IMODE(files.key.parent.stat().st_mode) == 0o700
    key = pki.new_key()
    pki.write_pair(files, key, b"cert")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.cert.stat().st_mode) == 0o644
    files.key.chmod(0o644)
    loaded = pki.current_key(files)
    assert loaded is not None
    assert loaded.public_key() == key.public_key()
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600


def _signed(
    key: ec.EllipticCurvePrivateKey,
    *,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    node: str = "n1",
) -> bytes:
    csr = pki.make_csr(key, node_name=node, names=["10.0.0.1", "n1"])
    return sign_serving(
        csr_pem=csr,
        node_name=node,
        ca_cert=ca,
        ca_key=ca_key,
        now=NOW,
        lifetime=dt.timedelta(hours=1),
    )


def test_a_certificate_on_disk_is_used_only_while_it_fits() -> None:
    """Reused when it is this key's and node's, from the CA, covers the names and is valid
    now; otherwise a new one is asked for."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca_pem = CA.public_bytes(serialization.Encoding.PEM)
    good = _signed(key, ca=CA, ca_key=CA_KEY)
    now = NOW.timestamp()

    def usable(pem: bytes, **changes: object) -> bool:
        args: dict[str, object] = {
            "pem": pem, "key": key, "ca_pems": ca_pem, "node_name": "n1",
            "names": ["10.0.0.1", "n1"], "now": now,
        }  # fmt: skip
        args.update(changes)
        return pki.usable_certificate(**args) is not None  # type: ignore[arg-type]

    assert usable(good)
    assert not usable(good, now=now + 3601)  # expired
    assert not usable(good, names=["10.0.0.2"])  # the host's address changed
    assert not usable(good, node_name="n2")
    assert not usable(good, key=ec.generate_private_key(ec.SECP256R1()))
    assert not usable(_signed(key, ca=OTHER, ca_key=OTHER_KEY))  # another CA
    assert not usable(b"garbage")


def _client_cert(cn: str, usage: x509.ObjectIdentifier) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(CA.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(CA_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    ("der", "answer"),
    [
        (None, (401, "a client certificate is required: the server's kubelet client\n")),
        (_client_cert("kube-apiserver-kubelet-client", ExtendedKeyUsageOID.CLIENT_AUTH), None),
        (
            _client_cert("system:node:n1", ExtendedKeyUsageOID.CLIENT_AUTH),
            (
                403,
                'the client certificate is for "system:node:n1", not the server\'s kubelet '
                'client "kube-apiserver-kubelet-client"\n',
            ),
        ),
        (
            _client_cert("kube-apiserver-kubelet-client", ExtendedKeyUsageOID.SERVER_AUTH),
            (
                403,
                "the client certificate is not for client authentication (no clientAuth usage)\n",
            ),
        ),
        (b"junk", (403, "the client certificate does not parse\n")),
    ],
    ids=["none", "server", "node", "server-auth-only", "junk"],
)
def test_who_may_call_the_serving_port(der: bytes | None, answer: tuple[int, str] | None) -> None:
    assert caller_problem(der) == answer
