"""`cityos import shelters FILE…`: good rows stored, each bad row reported with its line;
`cityos import FILE` (NGSI-LD JSON lines) keeps working beside it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.cli import main
from cityos.config import load_settings

HEADER = "NO,名称,名称_カナ,住所,緯度,経度,災害種別_洪水,想定収容人数"


def _shelters(database: str) -> dict[str, dict[str, object]]:
    settings = load_settings({"database_url": database, "dev": True}, environ={})
    with TestClient(build_app(settings)) as client:
        entities = client.get("/ngsi-ld/v1/entities", params={
            "type": "EvacuationShelter", "limit": 1000, "options": "keyValues"}).json()
    return {e["name"]: e for e in entities}


def test_a_csv_with_broken_rows(tmp_path: Path) -> None:
    csv_file = tmp_path / "shelters.csv"
    csv_file.write_bytes(b"\n".join([
        HEADER.encode("cp932"),
        "1,作見地区会館,サクミチクカイカン,石川県加賀市作見町,36.30,136.32,1,50".encode("cp932"),
        "2,座標が壊れた,,石川県加賀市,36.3N,136.3,,".encode("cp932"),
        "3,,,石川県加賀市,36.3,136.3,,".encode("cp932"),
        "4,橋立公民館,,石川県加賀市橋立町,36.36,136.35,,".encode("cp932"),
    ]) + b"\n")
    database = f"sqlite:///{tmp_path / 'c.db'}"
    result = CliRunner().invoke(main, ["import", "shelters", "--database", database,
                                       str(csv_file)])
    assert result.exit_code == 1  # some rows were rejected
    assert "encoding Shift_JIS (CP932)" in result.output
    assert "rejected shelters.csv:3: coordinates" in result.output
    assert "rejected shelters.csv:4: 名称 (name) is missing" in result.output
    assert "4 rows read" not in result.output and "2 rows read, 2 rejected" in result.output
    stored = _shelters(database)
    assert set(stored) == {"作見地区会館", "橋立公民館"}
    assert stored["作見地区会館"]["peopleCapacity"] == 50
    assert "peopleCapacity" not in stored["橋立公民館"]


def test_the_gsi_files_and_a_dry_run(tmp_path: Path) -> None:
    kaga = resources.files("cityos.data.kaga")
    files = []
    for name in ("gsi_designated_shelters_172065.geojson",
                 "gsi_emergency_evacuation_sites_172065.geojson"):
        target = tmp_path / name
        target.write_bytes(kaga.joinpath(name).read_bytes())
        files.append(str(target))
    database = f"sqlite:///{tmp_path / 'g.db'}"
    dry = CliRunner().invoke(main, ["import", "shelters", "--dry-run", *files])
    assert dry.exit_code == 0 and "nothing stored (dry run)" in dry.output
    result = CliRunner().invoke(main, ["import", "shelters", "--database", database, *files])
    assert result.exit_code == 0, result.output
    assert "115 rows read, 0 rejected, 83 shelters stored" in result.output
    assert len(_shelters(database)) == 83


def test_import_of_ngsi_ld_lines_still_works(tmp_path: Path) -> None:
    lines = tmp_path / "e.jsonl"
    lines.write_text('{"id": "urn:ngsi-ld:T:1", "type": "T"}\n')
    database = f"sqlite:///{tmp_path / 'e.db'}"
    result = CliRunner().invoke(main, ["import", "--database", database, str(lines)])
    assert result.exit_code == 0, result.output
    assert "imported 1 entities" in result.output
    listed = CliRunner().invoke(main, ["import", "--help"])
    assert "shelters" in listed.output
