"""IoT device and group records on PostgreSQL (storage.devices); tables from migration
0005_iot_devices."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import AsyncConnection

from cityos.storage.devices import HmacKeyRewrite, StoredDevice, StoredGroup
from cityos.storage.postgres.store import PostgresStore

_PUT_DEVICE = (
    "INSERT INTO iot_devices (device_id, tenant, doc, apikey_hash, hmac_key) "
    "VALUES (%s, %s, %s::jsonb, %s, %s) ON CONFLICT (device_id) DO UPDATE SET "
    "tenant = excluded.tenant, doc = excluded.doc, apikey_hash = excluded.apikey_hash, "
    "hmac_key = excluded.hmac_key")
_ALL_DEVICES = ("SELECT device_id, tenant, doc, apikey_hash, hmac_key, last_seen "
                "FROM iot_devices ORDER BY device_id COLLATE \"C\"")
_PUT_GROUP = ("INSERT INTO iot_groups (tenant, name, doc, apikey_hash) "
              "VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (tenant, name) DO UPDATE SET "
              "doc = excluded.doc, apikey_hash = excluded.apikey_hash")
_ALL_GROUPS = ("SELECT tenant, name, doc, apikey_hash FROM iot_groups "
               "ORDER BY tenant COLLATE \"C\", name COLLATE \"C\"")
_SEEN = "UPDATE iot_devices SET last_seen = %s WHERE device_id = %s"
_HMAC_KEYS = ("SELECT device_id, hmac_key FROM iot_devices WHERE hmac_key IS NOT NULL "
              "FOR UPDATE")
_SET_HMAC_KEY = "UPDATE iot_devices SET hmac_key = %s WHERE device_id = %s"
_SECRET_KEY = "iot-hmac-key-encryption"

Conn = AsyncConnection[Any]


class PostgresDeviceStore:
    """DeviceStore over a PostgresStore's pool."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def put_device(self, device: StoredDevice) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute(_PUT_DEVICE, (device.device_id, device.tenant,
                                             orjson.dumps(device.doc).decode(),
                                             device.apikey_hash, device.hmac_key))
        await self._store.write(work)

    async def delete_device(self, device_id: str) -> bool:
        async def work(conn: Conn) -> bool:
            cursor = await conn.execute("DELETE FROM iot_devices WHERE device_id = %s",
                                        (device_id,))
            return cursor.rowcount == 1
        return await self._store.write(work)

    async def all_devices(self) -> list[StoredDevice]:
        async def work(conn: Conn) -> list[StoredDevice]:
            rows = await (await conn.execute(_ALL_DEVICES)).fetchall()
            return [StoredDevice(device_id, tenant, doc, apikey_hash,
                                 None if hmac_key is None else bytes(hmac_key), last_seen)
                    for device_id, tenant, doc, apikey_hash, hmac_key, last_seen in rows]
        return await self._store.read(work)

    async def put_group(self, group: StoredGroup) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute(_PUT_GROUP, (group.tenant, group.name,
                                            orjson.dumps(group.doc).decode(),
                                            group.apikey_hash))
        await self._store.write(work)

    async def delete_group(self, tenant: str, name: str) -> bool:
        async def work(conn: Conn) -> bool:
            cursor = await conn.execute(
                "DELETE FROM iot_groups WHERE tenant = %s AND name = %s", (tenant, name))
            return cursor.rowcount == 1
        return await self._store.write(work)

    async def all_groups(self) -> list[StoredGroup]:
        async def work(conn: Conn) -> list[StoredGroup]:
            rows = await (await conn.execute(_ALL_GROUPS)).fetchall()
            return [StoredGroup(tenant, name, doc, apikey_hash)
                    for tenant, name, doc, apikey_hash in rows]
        return await self._store.read(work)

    async def record_last_seen(self, seen: list[tuple[str, str]]) -> None:
        async def work(conn: Conn) -> None:
            async with conn.cursor() as cursor:
                await cursor.executemany(_SEEN, [(at, device_id) for device_id, at in seen])
        await self._store.write(work)

    async def secret_key(self, candidate: bytes) -> bytes:
        async def work(conn: Conn) -> bytes:
            await conn.execute("INSERT INTO iot_secrets (name, value) VALUES (%s, %s) "
                               "ON CONFLICT (name) DO NOTHING", (_SECRET_KEY, candidate))
            row = await (await conn.execute("SELECT value FROM iot_secrets WHERE name = %s",
                                            (_SECRET_KEY,))).fetchone()
            assert row is not None
            return bytes(row[0])
        return await self._store.write(work)

    async def stored_secret_key(self) -> bytes | None:
        async def work(conn: Conn) -> bytes | None:
            row = await (await conn.execute("SELECT value FROM iot_secrets WHERE name = %s",
                                            (_SECRET_KEY,))).fetchone()
            return None if row is None else bytes(row[0])
        return await self._store.read(work)

    async def reencrypt_hmac_keys(self, reencrypt: HmacKeyRewrite,
                                  forget_secret_key: bool = False) -> int:
        async def work(conn: Conn) -> int:
            rows = await (await conn.execute(_HMAC_KEYS)).fetchall()
            replaced = reencrypt({device_id: bytes(key) for device_id, key in rows})
            async with conn.cursor() as cursor:
                await cursor.executemany(_SET_HMAC_KEY, [(key, device_id)
                                                         for device_id, key in replaced.items()])
            if forget_secret_key:
                await conn.execute("DELETE FROM iot_secrets WHERE name = %s", (_SECRET_KEY,))
            return len(replaced)
        return await self._store.write(work)
