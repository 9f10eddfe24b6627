"""Secrets at rest: TOTP secrets and OIDC signing private keys are stored encrypted with
AES-256-GCM under a key kept in a file outside the database (setting identity_key_file).
A copy of the database alone (a backup, a dump, a stolen disk image of the PostgreSQL
server) does not reveal them; whoever reads both the database and the key file does."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


def default_key_file(database_url: str) -> Path:
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        if path != ":memory:":
            return Path(path).parent / "identity.key"
    return Path("var") / "identity.key"


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, created (mode 0600, never overwritten) if the file is missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(base64.b64encode(key))
    key = base64.b64decode(path.read_bytes().strip())
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} does not hold a {KEY_BYTES}-byte key")
    return key


class SecretBox:
    """Encrypts small secrets bound to what they belong to (`purpose`, e.g.
    "totp:alice"), so a ciphertext copied to another record does not decrypt."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        # A callable is read at first use, so building the app touches no file.
        self._key_source = key
        self._cached: AESGCM | None = None

    @property
    def _aead(self) -> AESGCM:
        if self._cached is None:
            source = self._key_source
            self._cached = AESGCM(source if isinstance(source, bytes) else source())
        return self._cached

    def seal(self, secret: str, purpose: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), purpose.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, purpose: str) -> str:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode()).decode()
