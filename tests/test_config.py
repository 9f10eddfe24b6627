"""Settings: every one documented, precedence as documented, bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityos.config import documented_settings, load_settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [name for name, _ in documented_settings() if f"`{name}`" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "cityos.toml"
    config.write_text('port = 2000\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    env = {"CITYOS_CONFIG": str(config), "CITYOS_PORT": "3000"}
    settings = load_settings({"host": "127.0.0.2"}, environ=env)
    assert (settings.port, settings.host, settings.log_level) == (3000, "127.0.0.2", "debug")


def test_types_are_coerced_and_mirrors_parsed() -> None:
    settings = load_settings(environ={"CITYOS_DEMO": "true", "CITYOS_CONTEXT_MIRRORS":
                                      "https://a.example/=http://127.0.0.1:1/,bad"})
    assert settings.demo is True
    assert settings.context_mirror_map == {"https://a.example/": "http://127.0.0.1:1/"}


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "cityos.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ValueError, match="prot"):
        load_settings(environ={"CITYOS_CONFIG": str(config)})
