"""The self-made CA and serving certificate: names covered, reuse, re-issue on new names."""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from pathlib import Path

import pytest
from cryptography import x509

from nodeagent.server.tls import TLS_READ_BUFFER, default_sans, ensure_tls, shrink_tls_read_buffer


def _names(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | {
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    }


def test_certificate_covers_the_wanted_names(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, ("localhost", "127.0.0.1", "api.example"))
    assert {"localhost", "127.0.0.1", "api.example"} <= _names(files.cert)
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    assert files.key.stat().st_mode & 0o777 == 0o600


def test_reused_then_reissued_by_the_same_ca(tmp_path: Path) -> None:
    first = ensure_tls(tmp_path, ("localhost",))
    cert1, ca1 = first.cert.read_bytes(), first.ca.read_bytes()
    assert ensure_tls(tmp_path, ("localhost",)).cert.read_bytes() == cert1
    again = ensure_tls(tmp_path, ("localhost", "10.0.0.9"))
    assert again.cert.read_bytes() != cert1
    assert again.ca.read_bytes() == ca1
    assert "10.0.0.9" in _names(again.cert)


def test_wildcard_listen_covers_interface_addresses() -> None:
    sans = default_sans("0.0.0.0", ("extra.example",))
    assert {"localhost", "127.0.0.1", "extra.example"} <= set(sans)
    assert "10.1.2.3" in default_sans("10.1.2.3")


async def test_the_tls_read_buffer_guard_holds_on_this_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """shrink_tls_read_buffer relies on a CPython detail: SSLProtocol.max_size sizes the
    buffer each connection allocates (the one get_buffer hands the transport to read into). If
    this fails, the server runs with 256 KiB again."""
    monkeypatch.setattr(sslproto.SSLProtocol, "max_size", sslproto.SSLProtocol.max_size)
    assert shrink_tls_read_buffer()
    proto = sslproto.SSLProtocol(
        asyncio.get_running_loop(),
        asyncio.Protocol(),
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
        asyncio.get_running_loop().create_future(),
        server_side=True,
    )
    assert len(proto.get_buffer(0)) == TLS_READ_BUFFER
