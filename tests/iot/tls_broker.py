"""A throwaway TLS Mosquitto for tests: a CA and a server certificate generated with
`cryptography` for 127.0.0.1, a password file made by `mosquitto_passwd`, and a mosquitto
process of the test's own on a free port that accepts only TLS clients with a valid user
name and password."""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import IN_CI
from tests.e2e.server import free_port
from tests.iot.support import MOSQUITTO_BINARY

PASSWD_BINARY = "mosquitto_passwd"


@dataclass(frozen=True)
class Authority:
    """A certificate authority: its certificate (PEM file) and key."""

    cert_file: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)) \
        .not_valid_after(now + datetime.timedelta(days=1))


def make_authority(directory: Path, common_name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _validity(x509.CertificateBuilder()
                     .subject_name(_name(common_name)).issuer_name(_name(common_name))
                     .public_key(key.public_key()).serial_number(x509.random_serial_number())
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True,
                                                  True, False, False), True)
                     ).sign(key, hashes.SHA256())
    cert_file = directory / f"{common_name}.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(cert_file, key, cert)


def issue_server_cert(authority: Authority, directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost signed by `authority`: (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _validity(x509.CertificateBuilder()
                     .subject_name(_name("127.0.0.1")).issuer_name(authority.cert.subject)
                     .public_key(key.public_key()).serial_number(x509.random_serial_number())
                     .add_extension(x509.SubjectAlternativeName([
                         x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                         x509.DNSName("localhost")]), False)
                     .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                     ).sign(authority.key, hashes.SHA256())
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class TlsMosquitto:
    """mosquitto with one TLS listener on 127.0.0.1, user `user` with `password`."""

    def __init__(self, directory: Path, user: str, password: str) -> None:
        passwd = shutil.which(PASSWD_BINARY)
        if not Path(MOSQUITTO_BINARY).exists() or passwd is None:
            if IN_CI:
                pytest.fail("mosquitto and mosquitto_passwd are required in CI")
            pytest.skip("mosquitto or mosquitto_passwd not installed")
        self.directory = directory
        self.authority = make_authority(directory, "cityos-test-ca")
        cert_file, key_file = issue_server_cert(self.authority, directory)
        password_file = directory / "passwd"
        subprocess.run([passwd, "-b", "-c", str(password_file), user, password], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = free_port()
        self.log_file = directory / "mosquitto.log"
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {self.authority.cert_file}\ncertfile {cert_file}\nkeyfile {key_file}\n"
            f"allow_anonymous false\npassword_file {password_file}\n"
            f"persistence false\nlog_dest file {self.log_file}\n"
            # started as root, mosquitto would switch to user `mosquitto`, who cannot read
            # the test's private directory
            f"user {getpass.getuser()}\n")
        self.process: subprocess.Popen[bytes] | None = None

    def client_context(self, authority: Authority | None = None) -> ssl.SSLContext:
        """A client TLS context trusting `authority` (default: the broker's own CA)."""
        return ssl.create_default_context(
            cafile=str((authority or self.authority).cert_file))

    def start(self) -> TlsMosquitto:
        self.process = subprocess.Popen([MOSQUITTO_BINARY, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self._log_tail()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"TLS mosquitto did not start: {self._log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def _log_tail(self) -> str:
        return self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
