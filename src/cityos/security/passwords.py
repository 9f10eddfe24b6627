"""Operator passwords: argon2id (RFC 9106) with explicit parameters, so they are visible,
tested and raised over time (a hash made with weaker parameters is re-hashed at the next
successful login)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106 second recommended option (memory-constrained): 64 MiB, 3 passes, 4 lanes.
TIME_COST = 3
MEMORY_COST_KIB = 65536
PARALLELISM = 4
MIN_PASSWORD_LENGTH = 12

HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB,
                        parallelism=PARALLELISM, hash_len=32, salt_len=16, type=Type.ID)


class WeakPassword(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)


def one_time_password() -> str:
    """A random initial password (about 120 bits), for new operators and the demo admin."""
    return secrets.token_urlsafe(15)


# Verifying against this when the username is unknown keeps the answer time the same as
# for a known user with a wrong password (no username probing by timing).
DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
