"""Operator passwords: argon2id with the documented parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from cityos.security import passwords


def test_hashes_are_argon2id_with_rfc9106_parameters() -> None:
    stored = passwords.hash_password("a long enough password")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_password(stored, "a long enough password")
    assert not passwords.verify_password(stored, "a long enough passwore")
    assert not passwords.verify_password("not a hash", "a long enough password")


def test_the_same_password_hashes_differently_each_time() -> None:
    assert passwords.hash_password("same password here") != \
        passwords.hash_password("same password here")


def test_short_passwords_are_refused() -> None:
    with pytest.raises(passwords.WeakPassword):
        passwords.hash_password("short")


def test_weaker_hashes_are_marked_for_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    old = weak.hash("an old password hash")
    assert passwords.verify_password(old, "an old password hash")
    assert passwords.needs_rehash(old)
    assert not passwords.needs_rehash(passwords.hash_password("a current password"))


def test_one_time_passwords_are_long_and_random() -> None:
    made = {passwords.one_time_password() for _ in range(50)}
    assert len(made) == 50 and all(len(p) >= 20 for p in made)
