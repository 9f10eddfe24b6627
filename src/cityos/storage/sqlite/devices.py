"""IoT device and group records on the embedded SQLite database (storage.devices).

A sibling of SqliteStore: tables created through its `extra_schema`, writes through its
writer thread, reads through its reader pool."""

from __future__ import annotations

import sqlite3

import orjson

from cityos.storage.devices import HmacKeyRewrite, StoredDevice, StoredGroup
from cityos.storage.sqlite.store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS iot_devices (
    device_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    doc TEXT NOT NULL,
    apikey_hash TEXT NOT NULL,
    hmac_key BLOB,
    last_seen TEXT
);
CREATE TABLE IF NOT EXISTS iot_groups (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    apikey_hash TEXT,
    PRIMARY KEY (tenant, name)
);
CREATE TABLE IF NOT EXISTS iot_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""
_PUT_DEVICE = (
    "INSERT INTO iot_devices (device_id, tenant, doc, apikey_hash, hmac_key) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET tenant = excluded.tenant, "
    "doc = excluded.doc, apikey_hash = excluded.apikey_hash, hmac_key = excluded.hmac_key")
_ALL_DEVICES = ("SELECT device_id, tenant, doc, apikey_hash, hmac_key, last_seen "
                "FROM iot_devices ORDER BY device_id")
_PUT_GROUP = ("INSERT INTO iot_groups (tenant, name, doc, apikey_hash) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (tenant, name) DO UPDATE SET doc = excluded.doc, "
              "apikey_hash = excluded.apikey_hash")
_ALL_GROUPS = "SELECT tenant, name, doc, apikey_hash FROM iot_groups ORDER BY tenant, name"
_SEEN = "UPDATE iot_devices SET last_seen = ? WHERE device_id = ?"
_HMAC_KEYS = "SELECT device_id, hmac_key FROM iot_devices WHERE hmac_key IS NOT NULL"
_SET_HMAC_KEY = "UPDATE iot_devices SET hmac_key = ? WHERE device_id = ?"
_SECRET_KEY = "iot-hmac-key-encryption"


class SqliteDeviceStore:
    """DeviceStore beside a SqliteStore; construct it before the store is opened."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        store.extra_schema.append(SCHEMA)

    async def put_device(self, device: StoredDevice) -> None:
        doc = orjson.dumps(device.doc).decode()
        await self._store.write(lambda conn: conn.execute(_PUT_DEVICE, (
            device.device_id, device.tenant, doc, device.apikey_hash, device.hmac_key)))

    async def delete_device(self, device_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM iot_devices WHERE device_id = ?",
                                (device_id,)).rowcount == 1
        return await self._store.write(work)

    async def all_devices(self) -> list[StoredDevice]:
        def work(conn: sqlite3.Connection) -> list[StoredDevice]:
            return [StoredDevice(device_id, tenant, orjson.loads(doc), apikey_hash,
                                 None if hmac_key is None else bytes(hmac_key), last_seen)
                    for device_id, tenant, doc, apikey_hash, hmac_key, last_seen
                    in conn.execute(_ALL_DEVICES)]
        return await self._store.read(work)

    async def put_group(self, group: StoredGroup) -> None:
        doc = orjson.dumps(group.doc).decode()
        await self._store.write(lambda conn: conn.execute(_PUT_GROUP, (
            group.tenant, group.name, doc, group.apikey_hash)))

    async def delete_group(self, tenant: str, name: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM iot_groups WHERE tenant = ? AND name = ?",
                                (tenant, name)).rowcount == 1
        return await self._store.write(work)

    async def all_groups(self) -> list[StoredGroup]:
        def work(conn: sqlite3.Connection) -> list[StoredGroup]:
            return [StoredGroup(tenant, name, orjson.loads(doc), apikey_hash)
                    for tenant, name, doc, apikey_hash in conn.execute(_ALL_GROUPS)]
        return await self._store.read(work)

    async def record_last_seen(self, seen: list[tuple[str, str]]) -> None:
        rows = [(at, device_id) for device_id, at in seen]
        await self._store.write(lambda conn: conn.executemany(_SEEN, rows))

    async def secret_key(self, candidate: bytes) -> bytes:
        def work(conn: sqlite3.Connection) -> bytes:
            conn.execute("INSERT OR IGNORE INTO iot_secrets (name, value) VALUES (?, ?)",
                         (_SECRET_KEY, candidate))
            row = conn.execute("SELECT value FROM iot_secrets WHERE name = ?",
                               (_SECRET_KEY,)).fetchone()
            return bytes(row[0])
        return await self._store.write(work)

    async def stored_secret_key(self) -> bytes | None:
        def work(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute("SELECT value FROM iot_secrets WHERE name = ?",
                               (_SECRET_KEY,)).fetchone()
            return None if row is None else bytes(row[0])
        return await self._store.read(work)

    async def reencrypt_hmac_keys(self, reencrypt: HmacKeyRewrite,
                                  forget_secret_key: bool = False) -> int:
        def work(conn: sqlite3.Connection) -> int:
            stored = {device_id: bytes(key) for device_id, key in conn.execute(_HMAC_KEYS)}
            replaced = reencrypt(stored)
            conn.executemany(_SET_HMAC_KEY, [(key, device_id)
                                             for device_id, key in replaced.items()])
            if forget_secret_key:
                conn.execute("DELETE FROM iot_secrets WHERE name = ?", (_SECRET_KEY,))
            return len(replaced)
        return await self._store.write(work)
