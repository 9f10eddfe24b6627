"""Keeps outgoing fetches the broker makes on a client's behalf (remote @contexts) away
from addresses no client should reach through it: link-local ranges (cloud metadata
services such as 169.254.169.254), multicast, unspecified and reserved addresses.

Checked on every request httpx sends, redirects included. Loopback and private ranges stay
allowed: a city's own context servers usually live there; the security settings will let
operators narrow this further.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

from cityos.ngsild.errors import BadRequestData


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (address.is_link_local or address.is_multicast or address.is_unspecified
            or address.is_reserved)


async def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except socket.gaierror:
        return []  # unknown host: the fetch itself fails and says so
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_destination(request: httpx.Request) -> None:
    """httpx request hook: refuse destinations in forbidden address ranges."""
    host = request.url.host
    for address in await _addresses(host):
        if _forbidden(address):
            raise BadRequestData(f"fetching from {host} ({address}) is not allowed")
