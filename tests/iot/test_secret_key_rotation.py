"""Rotation of CITYOS_IOT_SECRET_KEY with `cityos iot rotate-secret-key`, on SQLite and
PostgreSQL (docs/iot.md, "Credentials at rest"): signed devices provisioned under the old
key keep verifying with the new key alone; a key that no configured key opens makes the
command refuse and change nothing; a database started without the setting moves to one."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from cityos.cli import main
from cityos.iot.signatures import sign
from tests.iot.support import entity, iot_app, provision
from tests.postgres_support import fresh_schema

OLD = "the old passphrase of the tests"
NEW = Fernet.generate_key().decode()
OTHER = "a passphrase nobody configured"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new PostgreSQL schema (never skipped in
    CI)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    with fresh_schema() as url:
        yield url


def rotate(database: str, current: str, previous: str = "") -> Result:
    env = {"CITYOS_IOT_SECRET_KEY": current, "CITYOS_IOT_SECRET_KEY_PREVIOUS": previous}
    return CliRunner().invoke(main, ["iot", "rotate-secret-key", "--database", database],
                              env=env)


def post_signed(client: TestClient, device: dict[str, Any], payload: bytes) -> int:
    line = sign(device["hmac_key"].encode(), device["device_id"], payload, int(time.time()))
    return client.post("/iot/d", params={"k": device["apikey"], "i": device["device_id"]},
                       content=line.encode() + b"\n" + payload).status_code


def stored_rows(database: str, sql: str) -> list[tuple[Any, ...]]:
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
            return [tuple(row) for row in conn.execute(sql)]
    with psycopg.connect(database) as pg:
        return [tuple(row) for row in pg.execute(sql).fetchall()]  # type: ignore[arg-type]


def stored_hmac_keys(database: str) -> dict[str, bytes]:
    rows = stored_rows(database, "SELECT device_id, hmac_key FROM iot_devices")
    return {device_id: bytes(key) for device_id, key in rows}


def test_signed_devices_keep_verifying_after_rotation(database: str) -> None:
    with iot_app(database, iot_secret_key=OLD) as client:
        first = provision(client, hmac=True, signed=True)
    with iot_app(database, iot_secret_key=NEW, iot_secret_key_previous=OLD) as client:
        assert post_signed(client, first, b"l|10") == 200  # the previous key decrypts
        second = provision(client, device_id="gauge-2", hmac=True, signed=True)
    before = stored_hmac_keys(database)

    result = rotate(database, NEW, previous=f"{OTHER},{OLD}")
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 device HMAC key(s)" in result.output
    after = stored_hmac_keys(database)
    assert after["gauge-1"] != before["gauge-1"] and after["gauge-2"] != before["gauge-2"]

    with iot_app(database, iot_secret_key=NEW) as client:  # the old key is gone
        assert post_signed(client, first, b"l|42") == 200
        assert post_signed(client, second, b"l|43") == 200
        stored = entity(client, "urn:ngsi-ld:WaterObserved:gauge-1")
        assert stored is not None and stored["height"]["value"] == 0.42


def test_an_unreadable_key_is_refused_and_nothing_changes(database: str) -> None:
    with iot_app(database, iot_secret_key=OLD) as client:
        readable = provision(client, hmac=True, signed=True)
    with iot_app(database, iot_secret_key=OTHER) as client:
        provision(client, device_id="gauge-2", hmac=True, signed=True)
    before = stored_hmac_keys(database)

    result = rotate(database, NEW, previous=OLD)  # OTHER is missing
    assert result.exit_code == 1, result.output
    assert "1 device HMAC key(s) cannot be decrypted" in result.output
    assert "(devices: gauge-2)" in result.output
    assert "nothing was changed" in result.output
    assert "CITYOS_IOT_SECRET_KEY_PREVIOUS" in result.output
    assert stored_hmac_keys(database) == before  # gauge-1 was not re-encrypted either

    result = rotate(database, NEW, previous="a wrong old key")
    assert result.exit_code == 1 and "2 device HMAC key(s)" in result.output
    assert stored_hmac_keys(database) == before
    with iot_app(database, iot_secret_key=OLD) as client:
        assert post_signed(client, readable, b"l|7") == 200


def test_rotation_needs_the_new_key(database: str) -> None:
    result = rotate(database, "", previous=OLD)
    assert result.exit_code == 2
    assert "CITYOS_IOT_SECRET_KEY is not set" in result.output


def test_moving_from_the_generated_key_to_a_configured_one(database: str) -> None:
    with iot_app(database) as client:  # no setting: a key generated in the database
        device = provision(client, hmac=True, signed=True)
    with iot_app(database, iot_secret_key=NEW) as client:  # the generated key decrypts
        assert post_signed(client, device, b"l|1") == 200

    result = rotate(database, NEW)
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 device HMAC key(s)" in result.output
    assert stored_rows(database, "SELECT name FROM iot_secrets") == []
    with iot_app(database, iot_secret_key=NEW) as client:
        assert post_signed(client, device, b"l|2") == 200
