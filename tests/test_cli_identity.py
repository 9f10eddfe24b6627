"""`cityos operators`, `cityos clients` and `cityos oidc rotate-keys` on a real
database, and the demo administrator at a demo start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.cli import main
from cityos.config import load_settings
from tests.identity_support import enrolment_secret, submit_password


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CITYOS_IDENTITY_KEY_FILE", str(tmp_path / "identity.key"))
    return f"sqlite:///{tmp_path / 'cityos.db'}"


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_operators_add_and_list(database: str) -> None:
    output = run("operators", "add", "tanaka", "--role", "admin", "--database", database)
    password = re.search(r"one-time password: (\S+)", output)
    assert password and "/auth/login" in output
    listed = run("operators", "list", "--database", database)
    assert "tanaka\troles=admin\tnot-enrolled\tactive" in listed
    refused = CliRunner().invoke(main, ["operators", "add", "tanaka", "--database", database])
    assert refused.exit_code != 0 and "exists" in refused.output
    settings = load_settings({"database_url": database}, environ={
        "CITYOS_IDENTITY_KEY_FILE": str(Path(database[10:]).parent / "identity.key")})
    with TestClient(build_app(settings), base_url="http://127.0.0.1:1026",
                    follow_redirects=False) as client:
        assert submit_password(client, "tanaka", password.group(1)).status_code == 303


def test_clients_add_list_and_rotate_keys(database: str) -> None:
    output = run("clients", "add", "bus-tracker", "--role", "transit", "--database", database)
    assert re.search(r"client secret: \S{40,}", output)
    assert "bus-tracker\troles=transit\tconfidential" in run("clients", "list",
                                                             "--database", database)
    public = run("clients", "add", "portal", "--public", "--redirect-uri",
                 "https://portal.city.kaga.ishikawa.jp/cb", "--database", database)
    assert "client secret" not in public
    first = run("oidc", "rotate-keys", "--database", database)
    second = run("oidc", "rotate-keys", "--database", database)
    assert first != second and first.startswith("new signing key ")


def test_demo_start_creates_an_admin_with_a_random_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'demo.db'}",
                              "demo": True}, environ={})
    with TestClient(build_app(settings), base_url="http://127.0.0.1:1026",
                    follow_redirects=False) as client:
        printed = capsys.readouterr().out
        password = re.search(r"one-time password: (\S+)", printed)
        assert password and "http://127.0.0.1:1026/auth/login" in printed
        assert "username: admin" in printed and "TOTP" in printed
        assert "Demo administrator 'admin' created" in caplog.text
        assert password.group(1) not in caplog.text  # the terminal only, never the log
        assert submit_password(client, "admin", password.group(1)).status_code == 303
        assert enrolment_secret(client.get("/auth/totp").text)
    assert (tmp_path / "identity.key").stat().st_mode & 0o777 == 0o600
    with TestClient(build_app(settings), base_url="http://127.0.0.1:1026"):
        assert "one-time password" not in capsys.readouterr().out  # not again
