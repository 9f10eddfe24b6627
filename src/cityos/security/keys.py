"""The key file: master keys that wrap the data keys of field encryption, and the Ed25519
key that signs audit checkpoints. It lives outside the database (CITYOS_KEY_FILE), is
written with mode 0600, and is refused when its group or others may read it.

Format (JSON): {"active": KEY_ID, "master_keys": {KEY_ID: base64 32 bytes, …},
"audit_signing_key": base64 Ed25519 seed}. Older master keys stay until rotation has
re-wrapped every data key they wrapped.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyFileError(Exception):
    """The key file is missing, malformed or readable by others."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def new_key_id() -> str:
    return "mk-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class KeyRing:
    active: str
    master_keys: dict[str, bytes]
    audit_signing_seed: bytes
    retired: list[str] = field(default_factory=list)

    @property
    def active_key(self) -> bytes:
        return self.master_keys[self.active]

    def signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.audit_signing_seed)

    def public_key_text(self) -> str:
        raw = self.signing_key().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _b64(raw)

    def with_new_master_key(self) -> KeyRing:
        key_id = new_key_id()
        keys = {**self.master_keys, key_id: secrets.token_bytes(32)}
        return KeyRing(key_id, keys, self.audit_signing_seed)

    def without(self, key_ids: set[str]) -> KeyRing:
        keys = {k: v for k, v in self.master_keys.items() if k not in key_ids or k == self.active}
        return KeyRing(self.active, keys, self.audit_signing_seed)

    def to_json(self) -> bytes:
        return orjson.dumps({"active": self.active,
                             "master_keys": {k: _b64(v) for k, v in self.master_keys.items()},
                             "audit_signing_key": _b64(self.audit_signing_seed)},
                            option=orjson.OPT_INDENT_2)


def public_key_from_text(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def generate_key_ring() -> KeyRing:
    return KeyRing(new_key_id(), {}, secrets.token_bytes(32)).with_new_master_key()


def check_permissions(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"key file {path} is accessible to its group or others "
                           f"(mode {stat.S_IMODE(mode):o}); run chmod 600 {path}")


def load_key_ring(path: str | Path) -> KeyRing:
    key_path = Path(path)
    if not key_path.is_file():
        raise KeyFileError(f"key file {key_path} does not exist; create it with "
                           "`cityos keys generate`")
    check_permissions(key_path)
    try:
        doc = orjson.loads(key_path.read_bytes())
        keys = {k: base64.b64decode(v) for k, v in doc["master_keys"].items()}
        ring = KeyRing(str(doc["active"]), keys, base64.b64decode(doc["audit_signing_key"]))
    except (ValueError, KeyError, TypeError) as error:
        raise KeyFileError(f"key file {key_path} is malformed: {error}") from error
    if ring.active not in keys or any(len(k) != 32 for k in keys.values()):
        raise KeyFileError(f"key file {key_path}: the active key is missing or a key is "
                           "not 32 bytes")
    return ring


def write_key_ring(path: str | Path, ring: KeyRing) -> None:
    """Write atomically (a new file, mode 0600, renamed over the old one)."""
    key_path = Path(path)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = key_path.with_name(key_path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(ring.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, key_path)
