"""The local CA and server certificate `tokencast up` serves HTTPS/WSS with: made once, reused
(so a CA trusted once stays trusted), reissued from the same CA when the host changes, keys
owner-only, and a handshake that verifies against the CA for every local name."""

from __future__ import annotations

import asyncio
import ssl
import stat

import pytest
from cryptography import x509

from tokencast.local.tls import ensure_certificates


def san(path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in names}


def test_first_run_makes_a_ca_and_a_certificate_for_the_local_names(tmp_path):
    files = ensure_certificates(tmp_path / "tls")
    assert {"localhost", "127.0.0.1", "::1"} <= san(files.cert)
    for key in (files.ca_key, files.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_later_runs_reuse_them_and_a_new_host_gets_a_new_certificate_from_the_same_ca(tmp_path):
    first = ensure_certificates(tmp_path)
    ca, cert = first.ca_cert.read_bytes(), first.cert.read_bytes()
    again = ensure_certificates(tmp_path)
    assert again.ca_cert.read_bytes() == ca and again.cert.read_bytes() == cert
    other = ensure_certificates(tmp_path, ("192.168.1.20",))
    assert other.ca_cert.read_bytes() == ca and other.cert.read_bytes() != cert
    assert "192.168.1.20" in san(other.cert)


async def test_a_client_trusting_the_ca_verifies_the_server(tmp_path):
    files = ensure_certificates(tmp_path)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=files.server_context())
    port = server.sockets[0].getsockname()[1]
    async with server:
        for name in ("localhost", "127.0.0.1"):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=files.client_context(), server_hostname=name
            )
            assert await reader.read() == b"ok"
            writer.close()
        with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust the local CA
            await asyncio.open_connection("127.0.0.1", port, ssl=ssl.create_default_context())
