"""Device credentials at rest.

- API keys (the `{apikey}` of a topic, `k=` of an HTTP request) are random tokens of 128
  bits or more; only their SHA-256 hash is stored. A fast hash is enough for keys of that
  entropy (no dictionary to try) and keeps the per-message check in microseconds.
- HMAC keys must be recoverable to verify signatures, so they are stored encrypted with
  Fernet (AES-128-CBC + HMAC-SHA256) under CITYOS_IOT_SECRET_KEY. Without that setting the
  encryption key is generated once and kept in the database itself: that protects a copy
  of the device table alone, not a copy of the whole database (docs/iot.md).
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken


def new_apikey() -> str:
    return secrets.token_urlsafe(18)  # 144 bits; safe in a topic level and a URL


def new_hmac_key() -> str:
    return secrets.token_hex(32)


def apikey_hash(apikey: str) -> str:
    return hashlib.sha256(apikey.encode()).hexdigest()


def new_encryption_key() -> bytes:
    return Fernet.generate_key()


class KeyVault:
    """Encrypts and decrypts HMAC keys with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @staticmethod
    def key_from_setting(text: str) -> bytes:
        """CITYOS_IOT_SECRET_KEY: a Fernet key, or any passphrase (hashed into one)."""
        raw = text.encode()
        try:
            Fernet(raw)
            return raw
        except ValueError:
            return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())

    def encrypt(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def decrypt(self, token: bytes) -> bytes | None:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            return None
