"""Device credentials at rest.

- API keys (the `{apikey}` of a topic, `k=` of an HTTP request) are random tokens of 128
  bits or more; only their SHA-256 hash is stored. A fast hash is enough for keys of that
  entropy (no dictionary to try) and keeps the per-message check in microseconds.
- HMAC keys must be recoverable to verify signatures, so they are stored encrypted with
  Fernet (AES-128-CBC + HMAC-SHA256) under CITYOS_IOT_SECRET_KEY. Without that setting the
  encryption key is generated once and kept in the database itself: that protects a copy
  of the device table alone, not a copy of the whole database (docs/iot.md). Previous
  keys (CITYOS_IOT_SECRET_KEY_PREVIOUS) still decrypt, never encrypt, so that the key can
  be rotated (cityos.iot.secret_keys).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def new_apikey() -> str:
    return secrets.token_urlsafe(18)  # 144 bits; safe in a topic level and a URL


def new_hmac_key() -> str:
    return secrets.token_hex(32)


def apikey_hash(apikey: str) -> str:
    return hashlib.sha256(apikey.encode()).hexdigest()


def new_encryption_key() -> bytes:
    return Fernet.generate_key()


class KeyVault:
    """Encrypts HMAC keys with the current Fernet key; decrypts them with the current key
    or, failing that, with each previous key in turn."""

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in (key, *previous)])

    @staticmethod
    def key_from_setting(text: str) -> bytes:
        """CITYOS_IOT_SECRET_KEY: a Fernet key, or any passphrase (hashed into one)."""
        raw = text.encode()
        try:
            Fernet(raw)
            return raw
        except ValueError:
            return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())

    @staticmethod
    def keys_from_setting(text: str) -> list[bytes]:
        """CITYOS_IOT_SECRET_KEY_PREVIOUS: keys or passphrases separated by commas (spaces
        around them ignored)."""
        return [KeyVault.key_from_setting(part.strip()) for part in text.split(",")
                if part.strip()]

    def encrypt(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def decrypt(self, token: bytes) -> bytes | None:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            return None

    def reencrypt(self, token: bytes) -> bytes:
        """`token`'s secret encrypted under the current key; InvalidToken when no key
        decrypts it."""
        return self._fernet.rotate(token)
