"""The keys that protect device HMAC keys at rest, and their rotation (docs/iot.md,
"Credentials at rest").

- The current key encrypts: CITYOS_IOT_SECRET_KEY, or without it a key generated once and
  kept in the database (`iot_secrets`).
- Older keys only decrypt: CITYOS_IOT_SECRET_KEY_PREVIOUS, and, once a key is configured,
  the generated key if the database still holds one (so that a database started without
  the setting moves to one without losing its devices' keys).
- `rotate_secret_key` re-encrypts every stored HMAC key under the current key in one
  transaction, and deletes the generated key there once a key is configured; if any
  stored key opens with none of the keys, it changes nothing.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken

from cityos.iot.credentials import KeyVault, new_encryption_key
from cityos.storage.devices import DeviceStore

CURRENT_SETTING = "CITYOS_IOT_SECRET_KEY"
PREVIOUS_SETTING = "CITYOS_IOT_SECRET_KEY_PREVIOUS"


class UnreadableHmacKeys(Exception):
    """Stored HMAC keys that none of the configured keys decrypts."""

    def __init__(self, device_ids: list[str]) -> None:
        self.device_ids = device_ids
        shown = ", ".join(device_ids[:10]) + (", …" if len(device_ids) > 10 else "")
        super().__init__(f"{len(device_ids)} device HMAC key(s) cannot be decrypted with "
                         f"{CURRENT_SETTING} or {PREVIOUS_SETTING} (devices: {shown})")


async def open_vault(store: DeviceStore, current: str, previous: str = "") -> KeyVault:
    """The vault of the settings `current` (CITYOS_IOT_SECRET_KEY) and `previous`
    (CITYOS_IOT_SECRET_KEY_PREVIOUS) over `store`."""
    older = KeyVault.keys_from_setting(previous)
    if not current:
        return KeyVault(await store.secret_key(new_encryption_key()), older)
    generated = await store.stored_secret_key()
    return KeyVault(KeyVault.key_from_setting(current),
                    older if generated is None else [*older, generated])


async def rotate_secret_key(store: DeviceStore, vault: KeyVault,
                            forget_generated_key: bool) -> int:
    """Re-encrypt every stored HMAC key under the vault's current key, in one transaction;
    returns how many. Raises UnreadableHmacKeys, changing nothing, when some key cannot be
    decrypted."""
    def reencrypt(stored: dict[str, bytes]) -> dict[str, bytes]:
        rotated: dict[str, bytes] = {}
        unreadable: list[str] = []
        for device_id, token in stored.items():
            try:
                rotated[device_id] = vault.reencrypt(token)
            except InvalidToken:
                unreadable.append(device_id)
        if unreadable:
            raise UnreadableHmacKeys(sorted(unreadable))
        return rotated
    return await store.reencrypt_hmac_keys(reencrypt, forget_secret_key=forget_generated_key)
