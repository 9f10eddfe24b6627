"""The vault of device HMAC keys: the current key encrypts, previous keys only decrypt,
and re-encryption moves a key from a previous key to the current one."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken

from cityos.iot.credentials import KeyVault

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()


def test_the_current_key_encrypts_and_previous_keys_decrypt() -> None:
    old_token = KeyVault(OLD).encrypt("device secret")
    vault = KeyVault(NEW, [OLD])
    assert vault.decrypt(old_token) == b"device secret"
    new_token = vault.encrypt("another secret")
    assert KeyVault(NEW).decrypt(new_token) == b"another secret"
    assert KeyVault(OLD).decrypt(new_token) is None


def test_reencryption_moves_a_key_to_the_current_key() -> None:
    old_token = KeyVault(OLD).encrypt("device secret")
    moved = KeyVault(NEW, [OLD]).reencrypt(old_token)
    assert KeyVault(NEW).decrypt(moved) == b"device secret"
    with pytest.raises(InvalidToken):
        KeyVault(NEW, [Fernet.generate_key()]).reencrypt(old_token)


def test_previous_keys_setting() -> None:
    passphrase_key = KeyVault.key_from_setting("an old passphrase")
    assert KeyVault.keys_from_setting(f" {OLD.decode()} ,an old passphrase,, ") == [
        OLD, passphrase_key]
    assert KeyVault.keys_from_setting("") == []
    token = KeyVault(passphrase_key).encrypt("s")
    assert KeyVault(NEW, KeyVault.keys_from_setting("x,an old passphrase")).decrypt(token)
