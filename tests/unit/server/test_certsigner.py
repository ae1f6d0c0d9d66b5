"""The serving-certificate signer: what it copies from a CSR, what it ignores, what it refuses."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nodeagent.server.certsigner import (
    MAX_SANS,
    CSRError,
    claims_of,
    self_made_not_before,
    serving_problem,
    sign_serving,
)

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA = (
    x509.CertificateBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")]))
    .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")]))
    .public_key(CA_KEY.public_key())
    .serial_number(1)
    .not_valid_before(NOW - dt.timedelta(days=1))
    .not_valid_after(NOW + dt.timedelta(days=3650))
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .sign(CA_KEY, hashes.SHA256())
)


def csr(
    *names: x509.GeneralName,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
    cn: str = "whoever",
) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    signer = key or ec.generate_private_key(ec.SECP256R1())
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def sign(pem: bytes, lifetime: dt.timedelta = dt.timedelta(days=365)) -> x509.Certificate:
    out = sign_serving(
        csr_pem=pem, node_name="n1", ca_cert=CA, ca_key=CA_KEY, now=NOW, lifetime=lifetime
    )
    return x509.load_pem_x509_certificate(out)


def test_the_node_is_the_callers_whatever_the_csr_says() -> None:
    """CN and O come from the authenticated node; the CSR's subject is ignored."""
    cert = sign(csr(cn="kube-apiserver-kubelet-client"))
    claims = claims_of(cert)
    assert (claims.common_name, claims.organizations) == ("system:node:n1", ("system:nodes",))
    assert (claims.server_auth, claims.client_auth) == (True, False)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert serving_problem(der, "n1") is None
    assert serving_problem(der, "n2") == (
        'the agent presented a certificate for "system:node:n1", not "system:node:n2"'
    )
    cert.verify_directly_issued_by(CA)


def test_ip_and_dns_names_are_kept() -> None:
    names = [x509.IPAddress(ipaddress.ip_address("10.1.2.3")), x509.DNSName("n1.lan")]
    ext = sign(csr(*names)).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert list(ext.value) == names


def test_the_servers_own_certificates_hold_for_a_clock_an_hour_behind() -> None:
    """client-go backdates its self-signed certificates by an hour; so do we (issue 19)."""
    an_hour_behind = NOW - dt.timedelta(minutes=59)
    assert self_made_not_before(NOW) <= an_hour_behind
    assert self_made_not_before(NOW) == NOW - dt.timedelta(hours=1)


def test_lifetime_and_backdate() -> None:
    """notAfter is now + the lifetime; notBefore is 5 minutes back, less for a short one."""
    year = sign(csr())
    assert year.not_valid_after_utc == NOW + dt.timedelta(days=365)
    assert year.not_valid_before_utc == NOW - dt.timedelta(minutes=5)
    short = sign(csr(), lifetime=dt.timedelta(seconds=10))
    assert short.not_valid_before_utc == NOW - dt.timedelta(seconds=1)
    eku = short.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


@pytest.mark.parametrize(
    ("pem", "words"),
    [
        (b"not a csr", "not a PEM certificate request"),
        (csr(x509.RFC822Name("root@n1")), "a RFC822Name name is not allowed"),
        (csr(x509.DNSName("*.fleet")), "DNS name '*.fleet' is not allowed"),
        (
            csr(*[x509.DNSName(f"n{i}.lan") for i in range(MAX_SANS + 1)]),
            f"{MAX_SANS + 1} subject alternative names, at most {MAX_SANS}",
        ),
        (csr(key=ec.generate_private_key(ec.SECP192R1())), "curve secp192r1 is not P-256"),
        (b"-" * 20_000, "at most 16384"),
    ],
    ids=["garbage", "email", "wildcard", "too-many", "weak-curve", "too-big"],
)
def test_refused(pem: bytes, words: str) -> None:
    with pytest.raises(CSRError) as refused:
        sign(pem)
    assert str(refused.value).startswith("spec.request: ")
    assert words in str(refused.value)
