"""API keys: shown once, hashed at rest, scoped, revocable, expiring; the authenticator
and the `cityos apikeys` / `cityos policies` commands."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cityos.cli import main
from cityos.ngsild.errors import BadRequestData, ResourceNotFound, Unauthenticated
from cityos.security.apikeys import ApiKeyAuthenticator, ApiKeys, presented_key
from cityos.storage.sqlite.grants import SqliteSecurityStore
from cityos.storage.sqlite.store import SqliteStore


@pytest.fixture
async def keys(tmp_path: Path) -> AsyncIterator[ApiKeys]:
    store = SqliteStore(str(tmp_path / "keys.db"))
    security = SqliteSecurityStore(store)
    await store.open()
    try:
        yield ApiKeys(security)
    finally:
        await store.close()


def scope(*headers: tuple[bytes, bytes]) -> dict:
    return {"type": "http", "headers": list(headers)}


async def test_key_is_shown_once_and_only_its_hash_is_stored(keys: ApiKeys,
                                                            tmp_path: Path) -> None:
    issued = await keys.create("river sensor gateway", roles=frozenset({"iot"}),
                               kind="device", tenants=frozenset({"kaga"}))
    assert issued.key.startswith(f"ck_{issued.record.key_id}_")
    secret = issued.key[len(f"ck_{issued.record.key_id}_"):]
    with sqlite3.connect(tmp_path / "keys.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert secret not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in dump
    listed = [record.to_json() for record in await keys.list()]
    assert listed[0]["id"] == issued.record.key_id and "key" not in listed[0]
    assert "secret_hash" not in json.dumps(listed)


async def test_valid_key_gives_a_scoped_principal(keys: ApiKeys) -> None:
    issued = await keys.create("gw", roles=frozenset({"iot"}), kind="device",
                               tenants=frozenset({"kaga"}))
    principal = await ApiKeyAuthenticator(keys).authenticate(
        scope((b"x-api-key", issued.key.encode())))
    assert principal is not None
    assert principal.subject == f"apikey:{issued.record.key_id}"
    assert principal.kind == "device" and principal.roles == {"iot"}
    assert principal.tenants == {"kaga"}
    same = await ApiKeyAuthenticator(keys).authenticate(
        scope((b"authorization", f"ApiKey {issued.key}".encode())))
    assert same == principal


async def test_no_key_is_not_this_authenticators_business(keys: ApiKeys) -> None:
    assert await ApiKeyAuthenticator(keys).authenticate(scope()) is None
    assert presented_key(scope((b"authorization", b"Bearer abc"))) is None


@pytest.mark.parametrize("bad", ["", "ck_", "nonsense", "ck_0123456789abcdef_short",
                                 "ck_0123456789abcdef_" + "A" * 43])
async def test_malformed_or_unknown_keys_are_refused(keys: ApiKeys, bad: str) -> None:
    with pytest.raises(Unauthenticated):
        await ApiKeyAuthenticator(keys).authenticate(scope((b"x-api-key", bad.encode())))


async def test_wrong_secret_is_refused(keys: ApiKeys) -> None:
    issued = await keys.create("svc", roles=frozenset())
    forged = issued.key[:-4] + ("AAAA" if not issued.key.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated):
        await keys.verify(forged)


async def test_revoked_key_is_refused_at_once(keys: ApiKeys) -> None:
    issued = await keys.create("svc", roles=frozenset({"staff"}))
    await keys.verify(issued.key)
    await keys.revoke(issued.record.key_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        await keys.verify(issued.key)
    with pytest.raises(ResourceNotFound):
        await keys.revoke(issued.record.key_id)


async def test_expired_key_is_refused(keys: ApiKeys) -> None:
    issued = await keys.create("svc", roles=frozenset(), expires_at="2020-01-01T00:00:00Z")
    with pytest.raises(Unauthenticated, match="expired"):
        await keys.verify(issued.key)
    future = await keys.create("svc", roles=frozenset(), expires_at="2999-01-01T09:00:00+09:00")
    assert future.record.expires_at == "2999-01-01T00:00:00Z"
    await keys.verify(future.key)


@pytest.mark.parametrize("kwargs", [{"kind": "robot"}, {"expires_at": "tomorrow"},
                                    {"roles": frozenset({"bad role"})}])
async def test_bad_key_requests_are_refused(keys: ApiKeys, kwargs: dict) -> None:
    arguments = {"roles": frozenset(), **kwargs}
    with pytest.raises(BadRequestData):
        await keys.create("svc", **arguments)


def test_cli_creates_lists_and_revokes_keys_and_grants(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    created = runner.invoke(main, ["apikeys", "create", "--name", "shelter app", "--role",
                                   "shelter-staff", "--tenant", "kaga", "--database",
                                   database])
    assert created.exit_code == 0, created.output
    key_id = created.output.split("id:")[1].split()[0]
    key = created.output.split("key:")[1].split()[0]
    listed = runner.invoke(main, ["apikeys", "list", "--database", database])
    row = json.loads(listed.output.splitlines()[0])
    assert row["id"] == key_id and row["roles"] == ["shelter-staff"]
    assert key not in listed.output
    granted = runner.invoke(main, ["policies", "grant", "--audience", "role:shelter-staff",
                                   "--op", "read", "--op", "write", "--type",
                                   "EvacuationShelter", "--attr", "peopleOccupancy",
                                   "--database", database])
    assert granted.exit_code == 0, granted.output
    grant_id = json.loads(granted.output)["id"]
    grants = runner.invoke(main, ["policies", "list", "--database", database]).output
    assert grant_id in grants and "public-EvacuationShelter" in grants
    assert runner.invoke(main, ["policies", "revoke", grant_id, "--database",
                                database]).exit_code == 0
    assert grant_id not in runner.invoke(main, ["policies", "list", "--database",
                                                database]).output
    assert runner.invoke(main, ["apikeys", "revoke", key_id, "--database",
                                database]).exit_code == 0
    again = runner.invoke(main, ["apikeys", "revoke", key_id, "--database", database])
    assert again.exit_code != 0 and "no active API key" in again.output


async def test_standing_names_revoked_and_expired_keys(keys: ApiKeys) -> None:
    valid = await keys.create("svc", roles=frozenset({"staff"}))
    expired = await keys.create("svc", roles=frozenset(), expires_at="2020-01-01T00:00:00Z")
    assert keys.standing(f"apikey:{valid.record.key_id}") is None
    assert keys.standing("operator:alice") is None
    assert "expired at 2020-01-01T00:00:00Z" in str(
        keys.standing(f"apikey:{expired.record.key_id}"))
    await keys.revoke(valid.record.key_id)
    assert "was revoked" in str(keys.standing(f"apikey:{valid.record.key_id}"))


async def test_standing_learns_of_revocations_made_elsewhere(keys: ApiKeys) -> None:
    issued = await keys.create("svc", roles=frozenset({"staff"}))
    elsewhere = ApiKeys(keys.store)  # another process, or the CLI
    await elsewhere.revoke(issued.record.key_id)
    subject = f"apikey:{issued.record.key_id}"
    assert keys.standing(subject) is None  # not re-read yet
    await keys.refresh_standing()
    assert "was revoked" in str(keys.standing(subject))


async def test_a_reload_keeps_authorizers_until_the_grants_change(tmp_path: Path) -> None:
    from cityos.security.access import AccessControl
    from cityos.security.personal import PersonalAttributes
    from cityos.security.principal import Principal

    store = SqliteStore(str(tmp_path / "grants.db"))
    security = SqliteSecurityStore(store)
    await store.open()
    try:
        access = AccessControl(security, personal=PersonalAttributes.parse(""))
        await access.load()
        staff = Principal("apikey:staff", "client", roles=frozenset({"staff"}))
        before = access.authorizer(staff, "")
        assert not before.grants("read")
        await access.load()  # the periodic reload, nothing new
        assert access.authorizer(staff, "") is before
        # Another process stores a grant: the next reload sees it and drops the cache.
        await security.put_policy({"audience": "role:staff", "operations": ["read"],
                                   "tenant": "*", "entityType": "*", "id": "g1"})
        await access.load()
        after = access.authorizer(staff, "")
        assert after is not before and after.grants("read")
    finally:
        await store.close()
