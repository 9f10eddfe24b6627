"""--dev is refused on addresses other machines can reach."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cityos.cli import main
from cityos.security.dev_mode import DevModeRefused, check_dev_mode, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.5.5", "::1", "localhost"])
def test_loopback_addresses_allow_dev_mode(host: str) -> None:
    assert is_loopback(host)
    check_dev_mode(True, host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_other_addresses_refuse_dev_mode(host: str) -> None:
    with pytest.raises(DevModeRefused):
        check_dev_mode(True, host)
    check_dev_mode(False, host)


def test_serve_refuses_dev_on_a_public_address() -> None:
    result = CliRunner().invoke(main, ["serve", "--dev", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refused on 0.0.0.0" in result.output
