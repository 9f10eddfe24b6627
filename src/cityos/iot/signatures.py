"""HMAC-SHA256 payload signatures with a timestamp and a replay window (pure state, no I/O).

A signed payload starts with one signature line, then a newline, then the payload:

    v1,t=<unix seconds>,sig=<hex HMAC-SHA256(key, "<t>.<device id>." + payload)>

Over HTTP the line may instead travel in the `Cityos-Signature` header. A signature is
accepted once: inside the window (|now − t| ≤ window) a repeated signature is a replay,
outside it every timestamp is refused, so remembering the window's signatures suffices.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from dataclasses import dataclass

PREFIX = b"v1,t="
_LINE = re.compile(rb"v1,t=(\d{1,12}),sig=([0-9a-f]{64})")


class SignatureInvalid(ValueError):
    """Missing, unreadable or wrong signature."""


class PayloadReplayed(ValueError):
    """A signature seen before, or a timestamp outside the window."""


@dataclass(frozen=True)
class Signature:
    timestamp: int
    digest: str  # hex


def sign(key: bytes, device_id: str, payload: bytes, timestamp: int) -> str:
    """The signature line for `payload` (what a device computes)."""
    message = f"{timestamp}.{device_id}.".encode() + payload
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"v1,t={timestamp},sig={digest}"


def split_signed(payload: bytes) -> tuple[Signature | None, bytes]:
    """The signature line (if the payload starts with one) and the payload after it."""
    if not payload.startswith(PREFIX):
        return None, payload
    line, _, body = payload.partition(b"\n")
    return parse_line(line), body


def parse_line(line: bytes) -> Signature:
    match = _LINE.fullmatch(line.strip())
    if match is None:
        raise SignatureInvalid("signature line is not v1,t=<seconds>,sig=<64 hex digits>")
    return Signature(int(match.group(1)), match.group(2).decode())


def verify(key: bytes, device_id: str, payload: bytes, signature: Signature) -> None:
    expected = sign(key, device_id, payload, signature.timestamp).rpartition("=")[2]
    if not hmac.compare_digest(expected, signature.digest):
        raise SignatureInvalid("signature does not match the payload")


class ReplayGuard:
    """Remembers the signatures accepted inside the window (bounded by `capacity`; when
    full the oldest are forgotten, and the window keeps refusing them once they age out)."""

    def __init__(self, window_seconds: float, capacity: int = 200_000) -> None:
        self.window = window_seconds
        self._capacity = capacity
        self._seen: OrderedDict[str, int] = OrderedDict()

    def check(self, signature: Signature, now: float) -> None:
        if abs(now - signature.timestamp) > self.window:
            raise PayloadReplayed(f"timestamp {signature.timestamp} is outside the "
                                  f"{self.window:g} s window")
        if signature.digest in self._seen:
            raise PayloadReplayed("signature already used")
        self._seen[signature.digest] = signature.timestamp
        self._forget(now)

    def _forget(self, now: float) -> None:
        while self._seen:
            digest, stamp = next(iter(self._seen.items()))
            if len(self._seen) <= self._capacity and now - stamp <= self.window:
                break
            del self._seen[digest]
