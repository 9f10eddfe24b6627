"""The DeviceStore contract (storage/devices.py) on SQLite and PostgreSQL: records, secrets
as given (hashes and ciphertext only), last-seen times, and survival across a reopen."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from tests.postgres_support import fresh_schema

from cityos.storage.devices import DeviceStore, StoredDevice, StoredGroup
from cityos.storage.postgres.devices import PostgresDeviceStore
from cityos.storage.postgres.store import PostgresStore
from cityos.storage.sqlite.devices import SqliteDeviceStore
from cityos.storage.sqlite.store import SqliteStore

Opener = Callable[[], Any]


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest,
                  tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    """A factory of (entity store, device store) pairs on one database."""
    with ExitStack() as stack:
        url = stack.enter_context(fresh_schema()) if request.param == "postgresql" else None

        def open_pair() -> tuple[Any, DeviceStore]:
            if url is None:
                sqlite = SqliteStore(str(tmp_path / "devices.db"))
                return sqlite, SqliteDeviceStore(sqlite)
            postgres = PostgresStore(url)
            return postgres, PostgresDeviceStore(postgres)

        yield open_pair


DEVICE = StoredDevice("gauge-1", "kaga", {"device_id": "gauge-1", "entity_type": "W"},
                      "ab" * 32, b"ciphertext")


async def test_devices_and_groups_round_trip_and_survive_reopen(
        backend: Callable[[], Any]) -> None:
    store, devices = backend()
    await store.open()
    await devices.put_device(DEVICE)
    await devices.put_device(StoredDevice("counter-1", "", {"x": 1}, "cd" * 32, None))
    await devices.put_group(StoredGroup("kaga", "rivers", {"entity_type": "W"}, None))
    await devices.put_group(StoredGroup("kaga", "people", {"entity_type": "C"}, "ef" * 32))
    await devices.record_last_seen([("gauge-1", "2026-11-26T09:00:00.000000Z"),
                                    ("missing", "2026-11-26T09:00:00.000000Z")])
    await store.close()

    store, devices = backend()
    await store.open()
    try:
        found = await devices.all_devices()
        assert [d.device_id for d in found] == ["counter-1", "gauge-1"]
        assert found[1].doc == DEVICE.doc and found[1].hmac_key == b"ciphertext"
        assert found[1].last_seen == "2026-11-26T09:00:00.000000Z"
        assert found[0].hmac_key is None and found[0].last_seen is None
        assert [(g.name, g.apikey_hash) for g in await devices.all_groups()] == [
            ("people", "ef" * 32), ("rivers", None)]
    finally:
        await store.close()


async def test_replace_keeps_last_seen_and_delete(backend: Callable[[], Any]) -> None:
    store, devices = backend()
    await store.open()
    try:
        await devices.put_device(DEVICE)
        await devices.record_last_seen([("gauge-1", "2026-11-26T09:00:00.000000Z")])
        await devices.put_device(StoredDevice("gauge-1", "kaga", {"v": 2}, "00" * 32, None))
        [device] = await devices.all_devices()
        assert device.doc == {"v": 2} and device.hmac_key is None
        assert device.last_seen == "2026-11-26T09:00:00.000000Z"
        assert await devices.delete_device("gauge-1")
        assert not await devices.delete_device("gauge-1")
        await devices.put_group(StoredGroup("", "g", {}, None))
        assert await devices.delete_group("", "g")
        assert not await devices.delete_group("", "g")
        assert await devices.all_devices() == [] and await devices.all_groups() == []
    finally:
        await store.close()


async def test_secret_key_is_created_once(backend: Callable[[], Any]) -> None:
    store, devices = backend()
    await store.open()
    try:
        first = await devices.secret_key(b"first-candidate")
        assert first == b"first-candidate"
        assert await devices.secret_key(b"second-candidate") == b"first-candidate"
    finally:
        await store.close()


async def test_hmac_keys_are_reencrypted_in_one_transaction(
        backend: Callable[[], Any]) -> None:
    store, devices = backend()
    await store.open()
    try:
        assert await devices.stored_secret_key() is None
        await devices.secret_key(b"generated-key")
        await devices.put_device(DEVICE)
        await devices.put_device(StoredDevice("gauge-2", "kaga", {}, "cd" * 32, b"other"))
        await devices.put_device(StoredDevice("counter-1", "", {}, "ef" * 32, None))
        seen: list[dict[str, bytes]] = []

        def refuse(stored: dict[str, bytes]) -> dict[str, bytes]:
            seen.append(stored)
            raise ValueError("cannot decrypt")

        with pytest.raises(ValueError):
            await devices.reencrypt_hmac_keys(refuse, forget_secret_key=True)
        assert seen[0] == {"gauge-1": b"ciphertext", "gauge-2": b"other"}
        assert {d.device_id: d.hmac_key for d in await devices.all_devices()} == {
            "counter-1": None, "gauge-1": b"ciphertext", "gauge-2": b"other"}
        assert await devices.stored_secret_key() == b"generated-key"

        def rotate(stored: dict[str, bytes]) -> dict[str, bytes]:
            return {device_id: b"new-" + key for device_id, key in stored.items()}

        assert await devices.reencrypt_hmac_keys(rotate, forget_secret_key=True) == 2
        assert {d.device_id: d.hmac_key for d in await devices.all_devices()} == {
            "counter-1": None, "gauge-1": b"new-ciphertext", "gauge-2": b"new-other"}
        assert await devices.stored_secret_key() is None
        assert await devices.reencrypt_hmac_keys(rotate) == 2  # the generated key stays gone
        assert await devices.stored_secret_key() is None
    finally:
        await store.close()


async def test_reencrypting_no_hmac_keys(backend: Callable[[], Any]) -> None:
    store, devices = backend()
    await store.open()
    try:
        assert await devices.reencrypt_hmac_keys(lambda stored: stored) == 0
    finally:
        await store.close()
