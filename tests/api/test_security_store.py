"""The SecurityStore contract (API keys and policy grants) on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cityos.app import open_security_store, open_store
from cityos.config import load_settings
from cityos.storage.grants import ApiKeyRecord, SecurityStore


@pytest.fixture
async def security(database_url: str) -> AsyncIterator[SecurityStore]:
    store = open_store(load_settings({"database_url": database_url}, environ={}))
    keys = open_security_store(store)
    await store.open()
    try:
        yield keys
    finally:
        await store.close()


def key(key_id: str, **changes: object) -> ApiKeyRecord:
    values: dict = {"key_id": key_id, "secret_hash": "ab" * 32, "name": "gateway 川",
                    "kind": "device", "roles": frozenset({"iot", "river"}),
                    "tenants": frozenset({"kaga"}),
                    "created_at": f"2026-01-0{key_id[-1]}T00:00:00Z",
                    "expires_at": None, **changes}
    return ApiKeyRecord(**values)


async def test_keys_round_trip_and_revoke_once(security: SecurityStore) -> None:
    await security.insert_api_key(key("k1"))
    await security.insert_api_key(key("k2", tenants=None, roles=frozenset(),
                                      expires_at="2027-01-01T00:00:00Z"))
    assert await security.get_api_key("k1") == key("k1")
    assert await security.get_api_key("nope") is None
    assert [k.key_id for k in await security.list_api_keys()] == ["k1", "k2"]
    second = await security.get_api_key("k2")
    assert second is not None and second.tenants is None and second.roles == frozenset()
    assert await security.revoke_api_key("k1", "2026-02-01T00:00:00Z")
    assert not await security.revoke_api_key("k1", "2026-02-02T00:00:00Z")
    assert not await security.revoke_api_key("nope", "2026-02-02T00:00:00Z")
    revoked = await security.get_api_key("k1")
    assert revoked is not None and revoked.revoked_at == "2026-02-01T00:00:00Z"


async def test_policies_keep_their_order_and_replace_by_id(security: SecurityStore) -> None:
    first = {"id": "g1", "audience": "role:a", "operations": ["read"], "tenant": "*",
             "entityType": "*", "idPattern": None, "attributes": None}
    second = {**first, "id": "g2", "audience": "subject:apikey:x", "attributes": ["urn:a"]}
    await security.put_policy(first)
    await security.put_policy(second)
    await security.put_policy({**first, "operations": ["read", "write"]})
    assert await security.list_policies() == [{**first, "operations": ["read", "write"]},
                                              second]
    assert await security.delete_policy("g1")
    assert not await security.delete_policy("g1")
    assert await security.list_policies() == [second]
