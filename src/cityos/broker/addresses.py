"""Which network addresses the broker refuses to reach on a client's behalf.

Remote @context fetches and notifications both send requests to URLs a client chose. Some
destinations are never a legitimate target and are a classic SSRF prize: link-local ranges
(cloud metadata services such as 169.254.169.254), the IPv6 metadata endpoints some clouds
put in private space (fd00:ec2::254), multicast, unspecified and reserved addresses.
IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 address they carry, so
`::ffff:169.254.169.254` is as forbidden as the address it wraps.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata services outside the link-local ranges (AWS IPv6 IMDS, Alibaba Cloud).
METADATA_ADDRESSES: frozenset[IpAddress] = frozenset({
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: IpAddress) -> IpAddress:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address stands for, else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def forbidden_by_default(address: IpAddress) -> bool:
    """True for addresses no client may make the broker reach unless an operator allows
    them explicitly: link-local, cloud metadata, multicast, unspecified, reserved."""
    address = embedded_ipv4(address)
    if address.is_loopback:
        return False  # ::1 lies in ::/8, which Python counts as reserved
    return (address in METADATA_ADDRESSES or address.is_link_local or address.is_multicast
            or address.is_unspecified or address.is_reserved)


def literal_address(host: str) -> IpAddress | None:
    """The address if `host` is an IP literal (brackets and zone index allowed)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def _from_infos(infos: list[tuple[object, ...]]) -> list[IpAddress]:
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0])  # type: ignore[index]
            for info in infos]


async def resolve_addresses(host: str) -> list[IpAddress]:
    """Every address `host` resolves to (without blocking the event loop); an empty list
    for an unknown host, whose request then fails on its own and says so."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return []
    return _from_infos(list(infos))


def resolve_addresses_blocking(host: str) -> list[IpAddress]:
    """`resolve_addresses` for synchronous callers (it waits for the system resolver)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return []
    return _from_infos(list(infos))
