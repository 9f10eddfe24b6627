"""Personal attributes sealed at rest on both backends: the raw database never holds the
plaintext (entity rows, temporal history), the API returns it, q on it is refused with
400, master-key rotation keeps everything readable, and a key file others may read stops
the start."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from tests.postgres_support import fresh_schema

from cityos.app import build_app
from cityos.cli import main
from cityos.config import load_settings
from cityos.security.keys import KeyFileError, generate_key_ring, load_key_ring, write_key_ring

SECRET_NAME = "加賀太郎-PLAINTEXT-NAME"
SECRET_PHONE = "0761-00-0000-PLAINTEXT"
PERSONAL = "Evacuee.residentName,phoneNumber"
EVACUEE = {"id": "urn:ngsi-ld:Evacuee:1", "type": "Evacuee",
           "residentName": {"type": "Property", "value": SECRET_NAME,
                            "note": {"type": "Property", "value": "sub-attribute"}},
           "phoneNumber": {"type": "Property", "value": SECRET_PHONE,
                           "observedAt": "2025-12-31T00:00:00Z"},
           "shelter": {"type": "Relationship", "object": "urn:ngsi-ld:EvacuationShelter:1"},
           "headcount": {"type": "Property", "value": 3}}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'cityos.db'}"
        return
    with fresh_schema() as url:
        yield url


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "cityos.keys"
    write_key_ring(path, generate_key_ring())
    return path


def app_client(database: str, key_file: Path) -> TestClient:
    settings = load_settings({"database_url": database, "dev": True, "key_file": str(key_file),
                              "personal_attributes": PERSONAL}, environ={})
    return TestClient(build_app(settings), base_url="http://127.0.0.1:1026")


def raw_database_bytes(database: str) -> bytes:
    """Everything the database holds, as stored: the SQLite files (WAL included), or the
    PostgreSQL rows as text."""
    if database.startswith("sqlite:///"):
        directory = Path(database.removeprefix("sqlite:///")).parent
        return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT doc::text FROM entities").fetchall()
    return "\n".join(row[0] for row in rows).encode()


def test_personal_attributes_are_sealed_at_rest_and_open_through_the_api(
        database: str, key_file: Path) -> None:
    with app_client(database, key_file) as client:
        created = client.post("/ngsi-ld/v1/entities", content=orjson.dumps(EVACUEE),
                              headers=JSON)
        assert created.status_code == 201, created.text
        patched = client.patch(f"/ngsi-ld/v1/entities/{EVACUEE['id']}/attrs",
                               content=orjson.dumps({"headcount": {"type": "Property",
                                                                   "value": 4}}),
                               headers=JSON)
        assert patched.status_code == 204
        entity = client.get(f"/ngsi-ld/v1/entities/{EVACUEE['id']}").json()
        assert entity["residentName"]["value"] == SECRET_NAME
        assert entity["residentName"]["note"]["value"] == "sub-attribute"
        assert entity["phoneNumber"]["value"] == SECRET_PHONE
        assert entity["headcount"]["value"] == 4
        listed = client.get("/ngsi-ld/v1/entities", params={"type": "Evacuee"}).json()
        assert listed[0]["phoneNumber"]["value"] == SECRET_PHONE
        assert client.get("/ngsi-ld/v1/entities",
                          params={"type": "Evacuee", "q": "headcount==4"}).json()
    stored = raw_database_bytes(database)
    assert SECRET_NAME.encode() not in stored and SECRET_PHONE.encode() not in stored
    assert b"sub-attribute" not in stored
    assert b"cityos:sealed" in stored


def test_q_and_order_on_a_sealed_attribute_answer_400(database: str, key_file: Path) -> None:
    with app_client(database, key_file) as client:
        client.post("/ngsi-ld/v1/entities", content=orjson.dumps(EVACUEE), headers=JSON)
        for params in ({"type": "Evacuee", "q": f'phoneNumber=="{SECRET_PHONE}"'},
                       {"type": "Evacuee", "orderBy": "residentName"}):
            answer = client.get("/ngsi-ld/v1/entities", params=params)
            assert answer.status_code == 400, params
            assert answer.json()["type"].endswith("BadRequestData")
            assert "encrypted" in answer.json()["detail"]


def test_temporal_history_holds_ciphertext_and_answers_plaintext(tmp_path: Path,
                                                                 key_file: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db' / 'cityos.db'}"
    with app_client(database, key_file) as client:
        client.post("/ngsi-ld/v1/entities", content=orjson.dumps(EVACUEE), headers=JSON)
        later = {"phoneNumber": {"type": "Property", "value": "0761-11-1111-PLAINTEXT",
                                 "observedAt": "2026-01-01T00:00:00Z"}}
        appended = client.post(f"/ngsi-ld/v1/temporal/entities/{EVACUEE['id']}/attrs",
                               content=orjson.dumps(later), headers=JSON)
        assert appended.status_code == 204, appended.text
        history = client.get(f"/ngsi-ld/v1/temporal/entities/{EVACUEE['id']}",
                             params={"attrs": "phoneNumber"}).json()
        values = {i["value"] for i in history["phoneNumber"]}
        assert {SECRET_PHONE, "0761-11-1111-PLAINTEXT"} <= values
    path = database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        docs = " ".join(str(r[0]) for r in conn.execute("SELECT doc FROM temporal_instances"))
    assert "PLAINTEXT" not in docs and "cityos:sealed" in docs
    assert b"PLAINTEXT" not in raw_database_bytes(database)


def test_rotation_rewraps_data_keys_and_everything_stays_readable(
        database: str, key_file: Path) -> None:
    with app_client(database, key_file) as client:
        client.post("/ngsi-ld/v1/entities", content=orjson.dumps(EVACUEE), headers=JSON)
        old_master = load_key_ring(key_file).active
        rotated = CliRunner().invoke(main, ["keys", "rotate", "--database", database,
                                            "--key-file", str(key_file)])
        assert rotated.exit_code == 0, rotated.output
        assert "1 data key(s) re-wrapped" in rotated.output
        # the running server keeps reading and writing through the rotation
        assert client.get(f"/ngsi-ld/v1/entities/{EVACUEE['id']}").json()[
            "phoneNumber"]["value"] == SECRET_PHONE
    ring = load_key_ring(key_file)
    assert ring.active != old_master and old_master not in ring.master_keys
    with app_client(database, key_file) as restarted:
        entity = restarted.get(f"/ngsi-ld/v1/entities/{EVACUEE['id']}").json()
        assert entity["residentName"]["value"] == SECRET_NAME


def test_a_key_file_others_may_read_is_refused(tmp_path: Path, key_file: Path) -> None:
    key_file.chmod(0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        app_client(f"sqlite:///{tmp_path / 'x.db'}", key_file)


def test_a_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cityos keys generate"):
        app_client(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "none.keys")


def test_export_opens_and_import_seals(tmp_path: Path, key_file: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db' / 'cityos.db'}"
    with app_client(database, key_file) as client:
        client.post("/ngsi-ld/v1/entities", content=orjson.dumps(EVACUEE), headers=JSON)
    env = {"CITYOS_KEY_FILE": str(key_file), "CITYOS_PERSONAL_ATTRIBUTES": PERSONAL}
    dump = tmp_path / "dump.jsonl"
    runner = CliRunner()
    exported = runner.invoke(main, ["export", "--database", database, str(dump)], env=env)
    assert exported.exit_code == 0, exported.output
    assert SECRET_PHONE in dump.read_text(encoding="utf-8")
    copy = f"sqlite:///{tmp_path / 'copy' / 'cityos.db'}"
    imported = runner.invoke(main, ["import", "--database", copy, str(dump)], env=env)
    assert imported.exit_code == 0, imported.output
    assert SECRET_PHONE.encode() not in raw_database_bytes(copy)
    with app_client(copy, key_file) as client:
        entity = client.get(f"/ngsi-ld/v1/entities/{EVACUEE['id']}").json()
        assert entity["phoneNumber"]["value"] == SECRET_PHONE


def test_temporal_aggregation_of_a_sealed_attribute_answers_400(tmp_path: Path,
                                                                key_file: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db' / 'cityos.db'}"
    with app_client(database, key_file) as client:
        client.post("/ngsi-ld/v1/entities", content=orjson.dumps(EVACUEE), headers=JSON)
        path = f"/ngsi-ld/v1/temporal/entities/{EVACUEE['id']}"
        refused = client.get(path, params={"options": "aggregatedValues",
                                           "aggrMethods": "totalCount",
                                           "attrs": "phoneNumber"})
        assert refused.status_code == 400, refused.text
        assert "encrypted" in refused.json()["detail"]
        allowed = client.get(path, params={"options": "aggregatedValues",
                                           "aggrMethods": "totalCount", "attrs": "headcount",
                                           "timeproperty": "createdAt"})
        assert allowed.status_code == 200, allowed.text
