"""Resolving request @contexts and the @context store (ETSI GS CIM 009 V1.8.1).

A request names its @context in the Link header or the body's "@context" (§5.5.7, §6.3.5): a
URL, an object, or an array mixing both. :class:`ContextResolver` compiles it once: remote
@contexts are fetched over http(s) within time and size bounds, nested references are followed
with cycle detection and a depth bound, results sit in an LRU cache. Core @context URLs (any
version) are never fetched; unavailable ones raise LdContextNotAvailable, invalid ones
BadRequestData (§5.5.6). It also keeps the store behind the @context API (§5.13): "Hosted"
(added by clients, §5.13.2), "Cached" (downloaded) and "ImplicitlyCreated" (inline request
@contexts) entries, listed (§5.13.3), served (§5.13.4), deleted or reloaded (§5.13.5).
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from cityos.ngsild.context import (
    CORE_CONTEXT_URL,
    CompiledContext,
    compile_context,
    core_document,
    is_core_context_url,
)
from cityos.ngsild.context.processing import MAX_DEPTH, remote_context_value
from cityos.ngsild.errors import (
    BadRequestData,
    LdContextNotAvailable,
    OperationNotSupported,
    ResourceNotFound,
)

ContextKind = Literal["Hosted", "Cached", "ImplicitlyCreated"]
KINDS: tuple[ContextKind, ...] = ("Hosted", "Cached", "ImplicitlyCreated")
CONTEXTS_PATH = "/ngsi-ld/v1/jsonldContexts/"
ID_PREFIX = "urn:ngsi-ld:jsonldContext:"
CORE_LOCAL_ID = ID_PREFIX + str(uuid.uuid5(uuid.NAMESPACE_URL, CORE_CONTEXT_URL))
_ACCEPT = "application/ld+json, application/json;q=0.9, */*;q=0.1"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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

    def details(self) -> dict[str, Any]:
        """URL, localId, kind, createdAt, lastUsage, numberOfHits, extraInfo (§5.13.3.5)."""
        body: dict[str, Any] = {"URL": self.url, "localId": self.local_id, "kind": self.kind,
                                "createdAt": _iso(self.created_at)}
        if self.local_id != CORE_LOCAL_ID:
            if self.last_usage is not None:
                body["lastUsage"] = _iso(self.last_usage)
            body["numberOfHits"] = self.number_of_hits
        if self.extra_info:
            body["extraInfo"] = dict(self.extra_info)
        return body


class ContextStore(Protocol):
    """Persistence hook for the @context store; the storage layer may implement it."""

    async def save(self, entry: ContextEntry) -> None: ...
    async def delete(self, local_id: str) -> None: ...
    async def load_all(self) -> list[ContextEntry]: ...


def _key(context: Any) -> bytes:
    """Canonical JSON of a request @context: the cache and ImplicitlyCreated key."""
    if not isinstance(context, str | dict | list):
        raise BadRequestData("@context must be a URL string, an object or an array")
    try:
        return orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise BadRequestData(f"@context is not valid JSON: {exc}") from exc


def _references(value: Any) -> Iterator[str]:
    """URLs an @context value refers to directly (array items and "@import")."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict) and isinstance(value.get("@import"), str):
        yield value["@import"]


class ContextResolver:
    """Compiles request @contexts and manages the @context store (see module docstring).

    `base_url` is the public root of this broker; Hosted and ImplicitlyCreated @contexts are
    served at ``<base_url>/ngsi-ld/v1/jsonldContexts/<localId>``. Safe for concurrent use
    from one event loop: concurrent requests for the same uncached URL share one download.
    """

    def __init__(self, base_url: str, *, timeout: float = 5.0, max_size: int = 1 << 20,
                 cache_size: int = 256, max_entries: int = 1024, max_depth: int = MAX_DEPTH,
                 client: httpx.AsyncClient | None = None, store: ContextStore | None = None,
                 clock: Callable[[], datetime] = _now,
                 mirrors: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout, self.max_size = timeout, max_size
        self._cache_size, self._max_entries, self._max_depth = cache_size, max_entries, max_depth
        self._client, self._owns_client = client, client is None
        self._store, self._clock = store, clock
        # URL prefix → local prefix: remote @contexts served from a local mirror (offline
        # or air-gapped deployments). The @context keeps its original URL everywhere else.
        self._mirrors = dict(mirrors or {})
        self._entries: dict[str, ContextEntry] = {}
        self._by_url: dict[str, str] = {}
        self._inline: dict[bytes, str] = {}
        self._compiled: OrderedDict[bytes, tuple[CompiledContext, tuple[str, ...]]] = (
            OrderedDict())
        self._inflight: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._put(ContextEntry(CORE_LOCAL_ID, CORE_CONTEXT_URL, "Cached", core_document(),
                               clock(), extra_info={"origin": "builtin"}))

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- resolving request @contexts (§5.5.7) ---------------------------------------------

    async def resolve(self, context: Any) -> CompiledContext:
        """Compile a request @context: None (Core only), a URL, an object or an array."""
        if context is None:
            return compile_context(None)
        key = _key(context)
        hit = self._compiled.get(key)
        if hit is not None:
            self._compiled.move_to_end(key)
            compiled, urls = hit
        else:
            documents = await self._collect(context)
            compiled = compile_context(context, documents=documents, max_depth=self._max_depth)
            urls = tuple(documents)
            self._compiled[key] = (compiled, urls)
            while len(self._compiled) > self._cache_size:
                self._compiled.popitem(last=False)
        self._touch(self._by_url.get(url) or self._hosted_id(url) for url in urls)
        if not isinstance(context, str):
            await self._record_inline(key, context)
        return compiled

    def context_url(self, context: Any) -> str | None:
        """The URL by which a resolved request @context can be referenced (e.g. in a Link
        header): the URL itself, or the ImplicitlyCreated entry made for an inline one."""
        if context is None:
            return CORE_CONTEXT_URL
        if isinstance(context, str):
            return context
        local_id = self._inline.get(_key(context))
        return None if local_id is None else self._entries[local_id].url

    async def _collect(self, context: Any) -> dict[str, Any]:
        """Fetch every remote @context reachable from `context` (depth-first, bounded)."""
        documents: dict[str, Any] = {}
        finished: set[str] = set()

        async def visit(value: Any, stack: tuple[str, ...]) -> None:
            urls = [u for u in dict.fromkeys(_references(value)) if not is_core_context_url(u)]
            for url in urls:
                if url in stack:
                    chain = " -> ".join((*stack, url))
                    raise BadRequestData(f"Invalid @context: cyclic @context reference: {chain}")
            if urls and len(stack) >= self._max_depth:
                raise BadRequestData(f"Invalid @context: remote @context references nested "
                                     f"deeper than {self._max_depth} levels at {urls[0]}")
            missing = [u for u in urls if u not in documents]
            fetched = await asyncio.gather(*(self._document(u) for u in missing))
            documents.update(zip(missing, fetched, strict=True))
            for url in urls:
                if url not in finished:
                    await visit(remote_context_value(documents[url], url), (*stack, url))
                    finished.add(url)

        await visit(context, ())
        return documents

    async def _document(self, url: str) -> dict[str, Any]:
        """The document at `url`: from the store, or downloaded once (single flight)."""
        hosted_id = self._hosted_id(url)
        if hosted_id is not None:
            entry = self._entries.get(hosted_id)
            if entry is None or entry.kind == "Cached":
                raise LdContextNotAvailable(f"The @context {url} is not stored by this broker")
            return entry.document
        local_id = self._by_url.get(url)
        if local_id is not None:
            return self._entries[local_id].document
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._download(url))
            self._inflight[url] = task
            task.add_done_callback(lambda _task: self._inflight.pop(url, None))
        return await asyncio.shield(task)  # a cancelled caller does not cancel the download

    async def _download(self, url: str) -> dict[str, Any]:
        document = await self._fetch(url)
        entry = ContextEntry(self._new_id(), url, "Cached", document, self._clock())
        self._put(entry)
        await self._save(entry)
        return document

    async def _fetch(self, url: str) -> dict[str, Any]:
        """GET `url` within `timeout` seconds and `max_size` bytes; the parsed document."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequestData(f"Invalid @context: {url!r} is not an http(s) URL")
        url = self._mirrored(url)
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=True, max_redirects=5)
        body = bytearray()
        oversize = LdContextNotAvailable(
            f"The @context at {url} exceeds the size limit of {self.max_size} bytes")
        try:
            async with asyncio.timeout(self.timeout), self._client.stream(
                    "GET", url, headers={"Accept": _ACCEPT}, timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise LdContextNotAvailable(
                        f"Fetching @context {url} failed: HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_size:
                    raise oversize
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_size:
                        raise oversize
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise LdContextNotAvailable(
                f"Fetching @context {url} timed out after {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise LdContextNotAvailable(f"Fetching @context {url} failed: {exc}") from exc
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:  # available but invalid (§5.5.6)
            raise BadRequestData(f"Invalid @context: {url} is not valid JSON") from exc
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData(f"Invalid @context: the document at {url} is not a JSON "
                                 f"object with an @context member")
        return document

    def _mirrored(self, url: str) -> str:
        for prefix, local in self._mirrors.items():
            if url.startswith(prefix):
                return local + url[len(prefix):]
        return url

    # -- the @context store (§5.13) --------------------------------------------------------

    async def add(self, document: Any) -> str:
        """Add @context (§5.13.2): store a Hosted @context; its new local identifier."""
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData("The payload must be a JSON object with an @context member")
        context = document["@context"]
        _key(context)
        compile_context(context, documents=await self._collect(context),
                        max_depth=self._max_depth)
        local_id = self._new_id()
        entry = ContextEntry(local_id, self.hosted_url(local_id), "Hosted",
                             {"@context": context}, self._clock())
        self._put(entry)
        await self._save(entry)
        return local_id

    def hosted_url(self, local_id: str) -> str:
        """The URL at which this broker serves the stored @context `local_id`."""
        return self.base_url + CONTEXTS_PATH + local_id

    def _hosted_id(self, url: str) -> str | None:
        prefix = self.base_url + CONTEXTS_PATH
        return unquote(url[len(prefix):]) if url.startswith(prefix) else None

    def list(self, details: bool = False, kind: str | None = None) -> builtins.list[Any]:
        """List @contexts (§5.13.3): URLs, or metadata objects with `details`."""
        if kind is not None and kind not in KINDS:
            raise BadRequestData(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        entries = [e for e in self._entries.values() if kind is None or e.kind == kind]
        return [e.details() if details else e.url for e in entries]

    def entry(self, context_id: str) -> ContextEntry:
        """The stored entry for a local identifier (or, for Cached ones, the original URL)."""
        local_id = context_id if context_id in self._entries else self._by_url.get(context_id)
        if local_id is None:
            raise ResourceNotFound(f"No @context {context_id} is stored")
        return self._entries[local_id]

    def get(self, context_id: str, details: bool = False) -> dict[str, Any]:
        """Serve @context (§5.13.4): the document (Hosted and ImplicitlyCreated only; a
        Cached one is served by its original URL), or its metadata with `details`."""
        entry = self.entry(context_id)
        if details:
            return entry.details()
        if entry.kind == "Cached":
            raise OperationNotSupported(
                f"@context {entry.local_id} is a Cached copy of {entry.url}; fetch it there")
        return entry.document

    async def delete(self, context_id: str, reload: bool = False) -> None:
        """Delete and Reload @context (§5.13.5): remove an entry, or re-download a Cached one
        with `reload`; compiled @contexts that may depend on it are dropped."""
        entry = self.entry(context_id)
        if entry.local_id == CORE_LOCAL_ID:
            raise BadRequestData("The NGSI-LD Core @context cannot be deleted or reloaded")
        if reload:
            if entry.kind != "Cached":
                raise BadRequestData(f"Only Cached @contexts can be reloaded; "
                                     f"{entry.local_id} is {entry.kind}")
            entry.document = await self._fetch(entry.url)
            entry.created_at, entry.last_usage, entry.number_of_hits = self._clock(), None, 0
            await self._save(entry)
        else:
            self._remove(entry)
            if self._store is not None:
                await self._store.delete(entry.local_id)
        self._compiled.clear()

    async def load(self) -> int:
        """Restore entries from the ContextStore; how many were loaded."""
        if self._store is None:
            return 0
        loaded = await self._store.load_all()
        for entry in loaded:
            if entry.local_id != CORE_LOCAL_ID:
                self._put(entry)
        self._compiled.clear()
        return len(loaded)

    # -- internals --------------------------------------------------------------------------

    def _new_id(self) -> str:
        return ID_PREFIX + str(uuid.uuid4())

    def _put(self, entry: ContextEntry) -> None:
        self._entries[entry.local_id] = entry
        if entry.kind == "Cached":
            self._by_url[entry.url] = entry.local_id
        elif entry.kind == "ImplicitlyCreated":
            self._inline[_key(entry.document.get("@context"))] = entry.local_id
        self._evict()

    def _remove(self, entry: ContextEntry) -> None:
        self._entries.pop(entry.local_id, None)
        if self._by_url.get(entry.url) == entry.local_id:
            del self._by_url[entry.url]
        for key, local_id in builtins.list(self._inline.items()):
            if local_id == entry.local_id:
                del self._inline[key]

    def _evict(self) -> None:
        """Bound Cached/ImplicitlyCreated entries to `max_entries`, dropping the least used."""
        if len(self._entries) <= self._max_entries + 1:
            return
        evictable = [e for e in self._entries.values()
                     if e.kind != "Hosted" and e.local_id != CORE_LOCAL_ID]
        if len(evictable) <= self._max_entries:
            return
        evictable.sort(key=lambda e: e.last_usage or e.created_at)
        for entry in evictable[:len(evictable) - self._max_entries]:
            self._remove(entry)
        self._compiled.clear()

    def _touch(self, local_ids: Iterable[str | None]) -> None:
        """Count a use of the stored entries `local_ids` (numberOfHits, lastUsage)."""
        now = self._clock()
        for local_id in local_ids:
            entry = self._entries.get(local_id) if local_id is not None else None
            if entry is not None:
                entry.number_of_hits += 1
                entry.last_usage = now

    async def _record_inline(self, key: bytes, context: Any) -> None:
        if key not in self._inline:
            local_id = self._new_id()
            entry = ContextEntry(local_id, self.hosted_url(local_id), "ImplicitlyCreated",
                                 {"@context": context}, self._clock())
            self._put(entry)
            await self._save(entry)
        self._touch([self._inline.get(key)])

    async def _save(self, entry: ContextEntry) -> None:
        if self._store is not None:
            await self._store.save(entry)
