"""The time identity decisions are made at (session expiry, lockout, token lifetimes):
one object, so tests move time forward instead of sleeping."""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0  # seconds added to the wall clock (tests move time with it)

    def now(self) -> float:
        return time.time() + self.offset
