"""The agent's serving key and certificate files, made through its csrtool child (the agent
process never loads cryptography) and signed by the server's real signer."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nodeagent.agent import pki
from nodeagent.server.certsigner import sign_serving
from nodeagent.server.tls import ensure_ca

NOW = dt.datetime.now(dt.UTC)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sign(csr: bytes, ca_dir: Path, node: str = "n1") -> bytes:
    ca = ensure_ca(ca_dir)
    return sign_serving(
        csr_pem=csr,
        node_name=node,
        ca_cert=ca.cert,
        ca_key=ca.key,
        now=NOW,
        lifetime=dt.timedelta(hours=1),
    )


async def test_a_key_and_its_certificate_are_installed_together(tmp_path: Path) -> None:
    """The request's key waits as serving.key.new (0600, in a 0700 pki dir); the certificate
    for it makes the pair serving.key / serving.crt (0644) and gives its validity; the CSR
    carries the node's identity and names."""
    files = pki.ServingFiles.under(str(tmp_path / "state"))
    csr_pem = await pki.new_request(files, node_name="n1", names=["10.0.0.7", "n1", "n1"])
    assert _mode(files.key.parent) == 0o700
    assert _mode(files.new_key) == 0o600
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in sans] == ["10.0.0.7", "n1"]
    not_before, not_after = await pki.install(files, _sign(csr_pem, tmp_path / "ca"))
    assert not_after - NOW.timestamp() == pytest.approx(3600, abs=2)
    assert not_before < NOW.timestamp()
    assert not files.new_key.exists()
    assert (_mode(files.key), _mode(files.cert)) == (0o600, 0o644)
    key = serialization.load_pem_private_key(files.key.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert cert.public_key() == key.public_key()


async def test_a_certificate_for_another_key_is_refused(tmp_path: Path) -> None:
    """A certificate that is not for the new key is not installed: PKIError saying so, and the
    pair in place stays."""
    files = pki.ServingFiles.under(str(tmp_path / "state"))
    first = await pki.new_request(files, node_name="n1", names=[])
    await pki.install(files, _sign(first, tmp_path / "ca"))
    installed = files.cert.read_bytes(), files.key.read_bytes()
    other = pki.ServingFiles.under(str(tmp_path / "other"))
    stranger = _sign(await pki.new_request(other, node_name="n1", names=[]), tmp_path / "ca")
    await pki.new_request(files, node_name="n1", names=[])
    with pytest.raises(pki.PKIError, match="the certificate is not for this key"):
        await pki.install(files, stranger)
    assert (files.cert.read_bytes(), files.key.read_bytes()) == installed
