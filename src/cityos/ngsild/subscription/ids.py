"""Notification identifiers (ETSI GS CIM 009 V1.8.1 §5.2.14: `id`, a URI unique to each
Notification) without a call to the system's random source per notification.

An identifier is `urn:ngsi-ld:Notification:` followed by a UUID-shaped string (RFC 9562
version 8, "custom"): 74 random bits drawn once per process, then a 48-bit counter.

- Within a process the counter makes every identifier different.
- Two processes (two nodes, a restart, a forked worker) draw their random bits
  independently; two of them share a prefix with a probability of about n²/2⁷⁵ for n
  processes, i.e. never in practice. A forked child draws new bits at once
  (`os.register_at_fork`), so it never continues its parent's sequence.
- When the counter runs out (2⁴⁸ notifications in one process) new bits are drawn.

`uuid.uuid4()` reads 16 bytes from `os.urandom` every time, which cost about 0.2 ms per
notification on a busy virtual machine (docs/benchmarks.md); this costs a string format.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable

COUNTER_BITS = 48
_COUNTER_LIMIT = 1 << COUNTER_BITS
_VARIANT_DIGITS = "89ab"  # RFC 9562 variant 0b10xx as the first hex digit of group 4


def uuid8_prefix(random_bytes: bytes) -> str:
    """The first four groups of a version-8 UUID (with its trailing hyphen) made from 10
    random bytes: 74 of their 80 bits are kept, the version and variant bits are fixed."""
    if len(random_bytes) != 10:
        raise ValueError("a notification id prefix needs 10 random bytes")
    digits = random_bytes.hex()
    variant = _VARIANT_DIGITS[int(digits[16], 16) & 0x3]
    return f"{digits[0:8]}-{digits[8:12]}-8{digits[13:16]}-{variant}{digits[17:20]}-"


class NotificationIds:
    """Unique identifiers for notifications: a per-process random prefix and a counter.
    Thread-safe (the counter is advanced under a lock only when it must be reseeded)."""

    def __init__(self, prefix: str, entropy: Callable[[int], bytes] = os.urandom, *,
                 first: int = 0) -> None:
        self._uri_prefix = prefix
        self._entropy = entropy
        self._lock = threading.Lock()
        self._reseed(first)

    def _reseed(self, first: int = 0) -> None:
        with self._lock:
            self._prefix = self._uri_prefix + uuid8_prefix(self._entropy(10))
            self._counter = itertools.count(first)

    def reseed(self) -> None:
        """Draw new random bits (after a fork: a child must not repeat its parent)."""
        self._reseed()

    def next(self) -> str:
        number = next(self._counter)
        if number >= _COUNTER_LIMIT:
            self._reseed()
            return self.next()
        return f"{self._prefix}{number:012x}"
