"""The @context store behind the JSON-LD @context API (ETSI GS CIM 009 V1.8.1 §5.13).

Entries are "Hosted" (added by clients, §5.13.2), "Cached" (downloaded on use) or
"ImplicitlyCreated" (inline request @contexts), each with the metadata of §5.13.3.5. Every
Tenant has its own :class:`ContextRegistry` (§5.5.10): an entry added, downloaded or created
under one Tenant is neither listed, served, used nor deletable under another. The NGSI-LD Core
@context is the one entry every registry shares; it ships with the package and is never fetched.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson

from cityos.ngsild.context import CORE_CONTEXT_URL, core_document, is_core_context_url
from cityos.ngsild.errors import BadRequestData, ResourceNotFound

ContextKind = Literal["Hosted", "Cached", "ImplicitlyCreated"]
KINDS: tuple[ContextKind, ...] = ("Hosted", "Cached", "ImplicitlyCreated")
CONTEXTS_PATH = "/ngsi-ld/v1/jsonldContexts/"
ID_PREFIX = "urn:ngsi-ld:jsonldContext:"
CORE_LOCAL_ID = ID_PREFIX + str(uuid.uuid5(uuid.NAMESPACE_URL, CORE_CONTEXT_URL))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_local_id() -> str:
    return ID_PREFIX + str(uuid.uuid4())


def context_key(context: Any) -> bytes:
    """Canonical JSON of a request @context: the cache and ImplicitlyCreated key."""
    if not isinstance(context, str | dict | list):
        raise BadRequestData("@context must be a URL string, an object or an array")
    try:
        return orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise BadRequestData(f"@context is not valid JSON: {exc}") from exc


@dataclass
class ContextEntry:
    """One stored @context and its metadata (§5.13.3.5 / §5.13.4.5)."""

    local_id: str
    url: str
    kind: ContextKind
    document: dict[str, Any]
    created_at: datetime
    last_usage: datetime | None = None
    number_of_hits: int = 0
    extra_info: dict[str, Any] = field(default_factory=dict)
    tenant: str = ""

    def details(self) -> dict[str, Any]:
        """URL, localId, kind, createdAt, lastUsage, numberOfHits, extraInfo (§5.13.3.5)."""
        body: dict[str, Any] = {"URL": self.url, "localId": self.local_id, "kind": self.kind,
                                "createdAt": iso(self.created_at)}
        if self.local_id != CORE_LOCAL_ID:
            if self.last_usage is not None:
                body["lastUsage"] = iso(self.last_usage)
            body["numberOfHits"] = self.number_of_hits
        if self.extra_info:
            body["extraInfo"] = dict(self.extra_info)
        return body


def core_entry(created_at: datetime) -> ContextEntry:
    return ContextEntry(CORE_LOCAL_ID, CORE_CONTEXT_URL, "Cached", core_document(), created_at,
                        extra_info={"origin": "builtin"})


class ContextStore(Protocol):
    """Persistence hook for the @context store; the storage layer may implement it."""

    async def save(self, entry: ContextEntry) -> None: ...
    async def delete(self, local_id: str) -> None: ...
    async def load_all(self) -> list[ContextEntry]: ...


class ContextRegistry:
    """The @context entries of one Tenant, indexed by local id, Cached URL and inline key.

    Cached and ImplicitlyCreated entries are bounded by `max_entries` (least recently used
    are dropped first); Hosted entries are only removed by a client.
    """

    def __init__(self, core: ContextEntry, max_entries: int) -> None:
        self._core = core
        self._max_entries = max_entries
        self._entries: dict[str, ContextEntry] = {core.local_id: core}
        self._by_url: dict[str, str] = {}
        self._inline: dict[bytes, str] = {}

    def put(self, entry: ContextEntry) -> bool:
        """Store `entry`; True when older entries had to be evicted for it."""
        self._entries[entry.local_id] = entry
        if entry.kind == "Cached":
            self._by_url[entry.url] = entry.local_id
        elif entry.kind == "ImplicitlyCreated":
            self._inline[context_key(entry.document.get("@context"))] = entry.local_id
        return self._evict()

    def remove(self, entry: ContextEntry) -> None:
        self._entries.pop(entry.local_id, None)
        if self._by_url.get(entry.url) == entry.local_id:
            del self._by_url[entry.url]
        for key, local_id in builtins.list(self._inline.items()):
            if local_id == entry.local_id:
                del self._inline[key]

    def get(self, local_id: str) -> ContextEntry | None:
        return self._entries.get(local_id)

    def cached(self, url: str) -> ContextEntry | None:
        local_id = self._by_url.get(url)
        return None if local_id is None else self._entries.get(local_id)

    def inline(self, key: bytes) -> ContextEntry | None:
        local_id = self._inline.get(key)
        return None if local_id is None else self._entries.get(local_id)

    def lookup(self, context_id: str) -> ContextEntry:
        """The entry for a local identifier or, for Cached ones, the original URL (§5.13.4,
        §5.13.5). Any Core @context URL (any version) names the Core entry."""
        entry = self._entries.get(context_id) or self.cached(context_id)
        if entry is None and is_core_context_url(context_id):
            entry = self._core
        if entry is None:
            raise ResourceNotFound(f"No @context {context_id} is stored")
        return entry

    def list(self, kind: str | None = None) -> builtins.list[ContextEntry]:
        return [e for e in self._entries.values() if kind is None or e.kind == kind]

    def touch(self, entries: Iterable[ContextEntry | None], now: datetime) -> None:
        """Count a use of `entries` (numberOfHits, lastUsage); the Core entry is not counted."""
        for entry in entries:
            if entry is not None and entry.local_id != CORE_LOCAL_ID:
                entry.number_of_hits += 1
                entry.last_usage = now

    def _evict(self) -> bool:
        if len(self._entries) <= self._max_entries + 1:
            return False
        evictable = [e for e in self._entries.values()
                     if e.kind != "Hosted" and e.local_id != CORE_LOCAL_ID]
        if len(evictable) <= self._max_entries:
            return False
        evictable.sort(key=lambda e: e.last_usage or e.created_at)
        for entry in evictable[:len(evictable) - self._max_entries]:
            self.remove(entry)
        return True
