"""Development mode (`cityos serve --dev`): anonymous callers may do everything. It exists
for local development and conformance runs, so it is refused on any address reachable from
another machine, and it says so loudly at start."""

from __future__ import annotations

import ipaddress
import logging

log = logging.getLogger("cityos.security")
WARNING = ("DEVELOPMENT MODE: security is OFF — every caller may read and change every "
           "entity. Never run this way where anyone else can reach the server.")


class DevModeRefused(ValueError):
    """--dev was asked for on an address other machines can reach."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_dev_mode(dev: bool, host: str) -> None:
    """Refuse development mode on a non-loopback address; warn loudly otherwise."""
    if not dev:
        return
    if not is_loopback(host):
        raise DevModeRefused(f"--dev is refused on {host}: development mode turns security "
                             "off and may only listen on a loopback address "
                             "(127.0.0.1, ::1, localhost)")
    log.warning(WARNING)
