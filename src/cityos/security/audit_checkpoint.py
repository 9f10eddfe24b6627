"""Signed audit checkpoints: Ed25519 over (size, head hash, time).

A checkpoint says "the chain's record number `size` has hash `head`", signed with the
audit signing key of the key file. Anyone holding the public key can check it offline;
since every hash covers all earlier ones, a valid checkpoint vouches for the whole chain
up to `size`, and a chain rewritten after it no longer matches it.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cityos.security.keys import KeyRing, public_key_from_text
from cityos.storage.audit import AuditHead

FORMAT = "cityos-audit-checkpoint/1"


def _message(size: int, head: str, time: str) -> bytes:
    return f"{FORMAT}\n{size}\n{head}\n{time}".encode()


def sign_checkpoint(head: AuditHead, ring: KeyRing) -> dict[str, Any]:
    time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    signature = ring.signing_key().sign(_message(head.seq, head.hash, time))
    return {"format": FORMAT, "size": head.seq, "head": head.hash, "time": time,
            "publicKey": ring.public_key_text(),
            "signature": base64.b64encode(signature).decode()}


def checkpoint_problem(checkpoint: dict[str, Any],
                       public_key: Ed25519PublicKey | str) -> str | None:
    """Why `checkpoint` is not a valid signature by `public_key`, or None if it is."""
    key = public_key_from_text(public_key) if isinstance(public_key, str) else public_key
    try:
        message = _message(int(checkpoint["size"]), str(checkpoint["head"]),
                           str(checkpoint["time"]))
        key.verify(base64.b64decode(checkpoint["signature"]), message)
    except (KeyError, ValueError, TypeError) as error:
        return f"malformed checkpoint: {error}"
    except InvalidSignature:
        return "the signature does not verify with the audit public key"
    return None
