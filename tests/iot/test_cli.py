"""`cityos iot …` against a real `cityos serve`: groups, devices, CSV import, removal."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cityos.cli import main
from tests.e2e.server import ServerProcess

GROUP = {"name": "counters", "entity_type": "CrowdFlowObserved",
         "attributes": [{"object_id": "c", "name": "peopleCount", "type": "Integer"}],
         "purpose": "混雑把握", "operator": "加賀市"}


def test_provisioning_from_the_command_line(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "db.sqlite")
    runner = CliRunner()
    url = ["--server", server.url]
    try:
        result = runner.invoke(main, ["iot", "groups", "add", *url, json.dumps(GROUP)])
        assert result.exit_code == 0, result.output
        result = runner.invoke(main, ["iot", "groups", "list", *url])
        assert "counters\tCrowdFlowObserved\tc→peopleCount" in result.output

        result = runner.invoke(main, ["iot", "devices", "add", *url, json.dumps(
            {"device_id": "hall-1", "group": "counters"})])
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.output)["devices"][0]["apikey"]) >= 20

        csv = tmp_path / "devices.csv"
        csv.write_text("device_id,group,longitude,latitude\nhall-2,counters,136.3,36.3\n"
                       "hall-3,missing,136.3,36.3\n", encoding="utf-8")
        result = runner.invoke(main, ["iot", "import-csv", *url, str(csv)])
        assert result.exit_code == 0, result.output
        assert "line 3" in result.output and "provisioned 1; refused 1" in result.output

        result = runner.invoke(main, ["iot", "devices", "list", *url])
        assert [line.split("\t")[0] for line in result.output.splitlines()] == [
            "hall-1", "hall-2"]
        assert runner.invoke(main, ["iot", "devices", "remove", *url, "hall-1"]).exit_code == 0
        result = runner.invoke(main, ["iot", "devices", "remove", *url, "hall-1"])
        assert result.exit_code != 0 and "404" in result.output
    finally:
        server.stop()
    result = runner.invoke(main, ["iot", "devices", "list", *url])
    assert result.exit_code != 0 and "not reachable" in result.output
