"""Where notifications may be sent: the operator's allow/deny lists against SSRF.

A subscription names an arbitrary URI and the broker then sends requests there, so the
endpoint is checked when the subscription is created or changed (`validate_notification_target`)
and again before every send (`TargetGuard.check`), because what a name resolves to may have
changed since. The rules, in order:

1. the scheme is http, https, mqtt or mqtts and there is a host;
2. a host matching a deny entry (name, `*.suffix` or CIDR) is refused;
3. when the allow list is not empty, the host must match an allow entry: its name, or
   every address it resolves to lies in an allowed CIDR;
4. link-local (cloud metadata 169.254.169.254, fd00:ec2::254), multicast, unspecified and
   reserved addresses are refused unless an allowed CIDR names them explicitly (an allowed
   *name* never does: DNS could point it anywhere).

A name that does not resolve is accepted at creation (the send fails later and the
subscription's status says so) unless rule 3 needs its addresses.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cityos.broker.addresses import (
    IpAddress,
    forbidden_by_default,
    resolve_addresses,
    resolve_addresses_blocking,
)
from cityos.ngsild.errors import BadRequestData

SCHEMES = frozenset({"http", "https", "mqtt", "mqtts"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HostRules:
    """One list of the policy: exact host names, `*.suffix` patterns and networks."""

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".example.org" for "*.example.org"
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostRules:
        """Raises ValueError for an entry that is neither a host name nor an address/CIDR."""
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            elif _looks_like_address(entry):
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            elif all(part.replace("-", "").replace("_", "").isalnum()
                     for part in entry.split(".")):
                names.add(entry)
            else:
                raise ValueError(f"not a host name, address or CIDR: {raw!r}")
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.names or self.suffixes or self.networks)

    def names_host(self, host: str) -> bool:
        return host in self.names or any(host.endswith(s) for s in self.suffixes)

    def contains(self, address: IpAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


def _looks_like_address(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class TargetPolicy:
    """The operator's allow and deny lists (CITYOS_NOTIFICATION_ALLOW / _DENY)."""

    allow: HostRules = HostRules()
    deny: HostRules = HostRules()

    @classmethod
    def from_lists(cls, allow: str = "", deny: str = "") -> TargetPolicy:
        """From comma-separated lists as configured; ValueError names a bad entry."""
        return cls(HostRules.parse(allow.split(",")), HostRules.parse(deny.split(",")))


def target_host(uri: str) -> str:
    """The lower-case host of a notification URI; BadRequestData when it has none or its
    scheme cannot carry notifications."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as error:
        raise BadRequestData(f"invalid notification endpoint {uri!r}: {error}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise BadRequestData(f"notification endpoint {uri!r} must use http, https, mqtt "
                             "or mqtts")
    if not host:
        raise BadRequestData(f"notification endpoint {uri!r} has no host")
    return host.lower()


def _refuse(host: str, why: str) -> BadRequestData:
    return BadRequestData(f"notifications to {host} are not allowed: {why}")


def _judge(host: str, addresses: list[IpAddress], policy: TargetPolicy) -> None:
    if policy.deny.names_host(host):
        raise _refuse(host, "the host is on the deny list")
    for address in addresses:
        if policy.deny.contains(address):
            raise _refuse(host, f"{address} is on the deny list")
    if policy.allow and not policy.allow.names_host(host):
        if not addresses:
            raise _refuse(host, "the host does not resolve and is not on the allow list")
        outside = [a for a in addresses if not policy.allow.contains(a)]
        if outside:
            raise _refuse(host, f"{outside[0]} is not on the allow list")
    for address in addresses:
        if forbidden_by_default(address) and not policy.allow.contains(address):
            raise _refuse(host, f"{address} is a link-local, metadata, multicast, "
                                "unspecified or reserved address")


def validate_notification_target(uri: str, policy: TargetPolicy) -> None:
    """Raise BadRequestData unless notifications may be sent to `uri` (subscription
    creation and update). Resolves host names with the system resolver."""
    host = target_host(uri)
    addresses = [] if policy.deny.names_host(host) else resolve_addresses_blocking(host)
    _judge(host, addresses, policy)


class TargetGuard:
    """The send-time check. Verdicts are remembered per URI for `ttl` seconds so a busy
    endpoint does not cost a DNS lookup per notification."""

    def __init__(self, policy: TargetPolicy, ttl: float = 10.0) -> None:
        self.policy = policy
        self._ttl = ttl
        self._verdicts: dict[str, tuple[float, BadRequestData | None]] = {}

    async def check(self, uri: str) -> None:
        """Raise BadRequestData if `uri` may not be notified right now."""
        now = time.monotonic()
        cached = self._verdicts.get(uri)
        if cached is None or cached[0] < now:
            verdict: BadRequestData | None = None
            try:
                host = target_host(uri)
                _judge(host, await resolve_addresses(host), self.policy)
            except BadRequestData as error:
                verdict = error
            if len(self._verdicts) > 10_000:
                self._verdicts.clear()
            cached = (now + self._ttl, verdict)
            self._verdicts[uri] = cached
        if cached[1] is not None:
            raise cached[1]
