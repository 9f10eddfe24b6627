"""A real `cityos serve`: HTTPS with --tls-cert/--tls-key (a self-signed certificate made
here, verified by the client), and refusing to start with a key file others may read."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cityos.security.keys import generate_key_ring, write_key_ring
from tests.e2e.server import free_port


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def serve(tmp_path: Path, port: int, *extra: str,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cityos", "serve", "--port", str(port), "--database",
         f"sqlite:///{tmp_path / 'serve.db'}", "--dev", *extra],
        env={**os.environ, "CITYOS_LOG_LEVEL": "warning", **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    process = serve(tmp_path, port, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        answer = None
        deadline = time.monotonic() + 30
        while answer is None and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                answer = httpx.get(f"https://127.0.0.1:{port}/ngsi-ld/v1/types",
                                   verify=trusted, timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in answer.headers  # the server software is not announced
        try:
            httpx.get(f"https://127.0.0.1:{port}/health", timeout=2)  # system CAs only
            raise AssertionError("an unknown certificate was accepted")
        except httpx.ConnectError:
            pass
    finally:
        process.kill()
        process.wait(timeout=10)


def test_refuses_to_start_with_a_key_file_others_may_read(tmp_path: Path) -> None:
    key_file = tmp_path / "cityos.keys"
    write_key_ring(key_file, generate_key_ring())
    key_file.chmod(0o644)
    process = serve(tmp_path, free_port(), env={"CITYOS_KEY_FILE": str(key_file)})
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert b"refusing to start" in stderr and b"chmod 600" in stderr
