"""Keeps outgoing fetches the broker makes on a client's behalf (remote @contexts) away
from addresses no client should reach through it: link-local ranges (cloud metadata
services such as 169.254.169.254), multicast, unspecified and reserved addresses.

Checked on every request httpx sends, redirects included. Loopback and private ranges stay
allowed: a city's own context servers usually live there; the security settings will let
operators narrow this further.
"""

from __future__ import annotations

import httpx

from cityos.broker.addresses import forbidden_by_default, resolve_addresses
from cityos.ngsild.errors import BadRequestData


async def check_destination(request: httpx.Request) -> None:
    """httpx request hook: refuse destinations in forbidden address ranges."""
    host = request.url.host
    for address in await resolve_addresses(host):
        if forbidden_by_default(address):
            raise BadRequestData(f"fetching from {host} ({address}) is not allowed")
