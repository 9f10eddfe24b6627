"""`cityos twin …` through the real command line (click runner, SQLite database)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cityos.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def test_evacuate_prints_a_summary_marks_synthetic_and_stores_the_run(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'city.db'}"
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "test"\n[shelters]\ncapacity_unknown = 500\n', encoding="utf-8")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["twin", "evacuate", "--hazard", "flood", "--scenario",
                                       str(scenario), "--seed", "4", "--database", database,
                                       "--packaged-shelters", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and "evacuated share" in result.output
    assert "stored as urn:ngsi-ld:SimulationRun:" in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["seeds"] == [4] and report["synthetic"] is True
    assert len(report["shelters"]) == 83  # 62 + 53 GSI records, one per facility
    run = report["id"].rsplit(":", 1)[-1]
    assert (tmp_path / "twin" / "runs" / f"{run}.json").exists()
    exported = tmp_path / "export.jsonl"
    exporting = CliRunner().invoke(main, ["export", "--database", database, str(exported)])
    assert exporting.exit_code == 0
    assert "SimulationRun" in exported.read_text(encoding="utf-8")


def test_imported_roads_replace_the_synthetic_ones(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'city.db'}"
    imported = CliRunner().invoke(main, ["twin", "import-roads", "--database", database,
                                         str(FIXTURES / "roads.geojson")])
    assert imported.exit_code == 0, imported.output
    assert "4 nodes, 3 links" in imported.output and "broken" in imported.output
    result = CliRunner().invoke(main, ["twin", "evacuate", "--database", database,
                                       "--no-store", "--output", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "no EvacuationShelter entities" in result.output
    assert "not stored (--no-store)" in result.output
    notes = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["notes"]
    assert not any("SYNTHETIC road graph" in note for note in notes)
    assert any("SYNTHETIC population" in note for note in notes)


def test_bad_inputs_give_clear_messages(tmp_path: Path) -> None:
    pbf = tmp_path / "kaga.osm.pbf"
    pbf.write_bytes(b"\x00")
    refused = CliRunner().invoke(main, ["twin", "import-roads", str(pbf)])
    assert refused.exit_code != 0 and "osmium cat" in refused.output
    scenario = tmp_path / "bad.toml"
    scenario.write_text("hazzard = 'flood'\n", encoding="utf-8")
    bad = CliRunner().invoke(main, ["twin", "evacuate", "--scenario", str(scenario),
                                    "--packaged-shelters", "--no-store"])
    assert bad.exit_code != 0 and "unknown key(s) in the scenario: hazzard" in bad.output


def test_compare_two_scenarios(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text('name = "base"\n[shelters]\ncapacity_unknown = 200\n', encoding="utf-8")
    more = tmp_path / "more.toml"
    more.write_text('name = "ryokan"\n[shelters]\ncapacity_unknown = 200\n'
                    '[[shelters.temporary]]\nname = "旅館"\nlon = 136.363\nlat = 36.29\n'
                    'capacity = 2000\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["twin", "compare", str(base), str(more),
                                       "--packaged-shelters",
                                       "--database", f"sqlite:///{tmp_path / 'c.db'}"])
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if "stranded" in row)
    a, b, change = (int(cell) for cell in line.replace("│", " ").split()[1:4])
    assert b < a and change == b - a


def test_a_run_on_imported_inputs_only_is_not_marked_synthetic(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'city.db'}"
    runner = CliRunner()
    for command in (["import-roads", str(FIXTURES / "roads.geojson")],
                    ["import-population", str(FIXTURES / "points.csv")],
                    ["import-hazard", "--kind", "flood", str(FIXTURES / "small-flood.geojson")]):
        done = runner.invoke(main, ["twin", *command[:-1], "--database", database, command[-1]])
        assert done.exit_code == 0, done.output
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"name": "real", "time_of_day": "night",
                                    "shelters": {"temporary": [
        {"name": "corner", "lon": 136.30, "lat": 36.301, "capacity": 1000}]}}),
        encoding="utf-8")
    out = tmp_path / "r.json"
    result = runner.invoke(main, ["twin", "evacuate", "--scenario", str(scenario),
                                  "--database", database, "--no-store", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" not in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["synthetic"] is False and report["syntheticNote"] is None
    # the flood polygon closes the link along the east edge (136.301, 36.300 - 36.301)
    assert report["summary"]["closedLinks"] >= 1
    assert report["summary"]["residents"] == 70
    assert report["summary"]["evacuated"] + report["summary"]["unreachable"] == 70
