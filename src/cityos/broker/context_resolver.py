"""Resolving request @contexts and the @context API operations (ETSI GS CIM 009 V1.8.1).

A request names its @context in the Link header or the body's "@context" (§5.5.7, §6.3.5): a
URL, an object, or an array mixing both. :class:`ContextResolver` compiles it once: remote
@contexts are fetched over http(s) within time and size bounds, nested references are followed
with cycle detection and a depth bound, results sit in an LRU cache. Relative @context
references are resolved against the request URL (JSON-LD 1.1 API §4.1.2, step 5.2.1). Core
@context URLs (any version) are never fetched; unavailable ones raise LdContextNotAvailable,
invalid ones BadRequestData (§5.5.6).

It also performs the @context API operations (§5.13) on the per-Tenant store of
:mod:`cityos.broker.context_store`: Add (§5.13.2), List (§5.13.3), Serve (§5.13.4), Delete
and Reload (§5.13.5).
"""

from __future__ import annotations

import asyncio
import builtins
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import orjson

from cityos.broker.context_store import (
    CONTEXTS_PATH,
    CORE_LOCAL_ID,
    KINDS,
    ContextEntry,
    ContextKind,
    ContextRegistry,
    ContextStore,
    context_key,
    core_entry,
    new_local_id,
)
from cityos.broker.fetch_guard import check_destination
from cityos.ngsild.context import (
    CORE_CONTEXT_URL,
    CompiledContext,
    compile_context,
    is_core_context_url,
)
from cityos.ngsild.context.processing import MAX_DEPTH, remote_context_value
from cityos.ngsild.errors import (
    BadRequestData,
    InvalidRequest,
    LdContextNotAvailable,
    OperationNotSupported,
    ResourceNotFound,
)

__all__ = ["KINDS", "ContextEntry", "ContextKind", "ContextReloadFailed", "ContextResolver",
           "ContextStore"]

_ACCEPT = "application/ld+json, application/json;q=0.9, */*;q=0.1"
_EMPTY_DOCUMENT: dict[str, Any] = {"@context": {}}


class ContextReloadFailed(LdContextNotAvailable):
    """Re-downloading a Cached @context failed (§5.13.5.4): 504 Gateway Timeout (§6.31.3.2)."""

    status = 504


def _now() -> datetime:
    return datetime.now(UTC)


def _references(value: Any) -> Iterator[str]:
    """URLs an @context value refers to directly (array items and "@import")."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict) and isinstance(value.get("@import"), str):
        yield value["@import"]


def _check_shape(value: Any) -> None:
    """Reject what can never be an @context (§5.5.4) before anything is fetched."""
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequestData(f"Invalid @context: {value!r} is not an http(s) URL")
    elif isinstance(value, list):
        for item in value:
            if item is not None:
                _check_shape(item)
    elif isinstance(value, dict):
        if "@import" in value and not isinstance(value["@import"], str):
            raise BadRequestData("Invalid @context: @import must be a URL string")
    else:
        raise BadRequestData(f"Invalid @context: an @context must be a URL, an object or an "
                             f"array of those, not {orjson.dumps(value).decode()}")


class ContextResolver:
    """Compiles request @contexts and manages the @context store (see module docstring).

    `base_url` is the public root of this broker; Hosted and ImplicitlyCreated @contexts are
    served at ``<base_url>/ngsi-ld/v1/jsonldContexts/<localId>``. Safe for concurrent use
    from one event loop: concurrent requests for the same uncached URL share one download.
    Every operation takes the Tenant it runs under ("" is the default Tenant).
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
        self._core = core_entry(clock())
        self._registries: dict[str, ContextRegistry] = {}
        self._compiled: OrderedDict[tuple[str, bytes], tuple[CompiledContext, tuple[str, ...]]]
        self._compiled = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Task[dict[str, Any]]] = {}

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _registry(self, tenant: str, create: bool = True) -> ContextRegistry:
        registry = self._registries.get(tenant)
        if registry is None:
            registry = ContextRegistry(self._core, self._max_entries)
            if create:  # reads under an unknown Tenant see the Core @context only
                self._registries[tenant] = registry
        return registry

    # -- resolving request @contexts (§5.5.7) ---------------------------------------------

    def absolutize(self, context: Any, base: str | None) -> Any:
        """`context` with relative @context URLs resolved against `base`, the request URL."""
        if base is None:
            return context
        if isinstance(context, str):
            return context if urlsplit(context).scheme else urljoin(base, context)
        if isinstance(context, list):
            return [self.absolutize(item, base) if isinstance(item, str | list) else item
                    for item in context]
        return context

    async def resolve(self, context: Any, tenant: str = "") -> CompiledContext:
        """Compile a request @context: None (Core only), a URL, an object or an array."""
        if context is None:
            return compile_context(None)
        key = (tenant, context_key(context))
        hit = self._compiled.get(key)
        if hit is not None:
            self._compiled.move_to_end(key)
            compiled, urls = hit
        else:
            documents = await self._collect(context, tenant)
            compiled = compile_context(context, documents=documents, max_depth=self._max_depth)
            urls = tuple(documents)
            self._compiled[key] = (compiled, urls)
            while len(self._compiled) > self._cache_size:
                self._compiled.popitem(last=False)
        registry = self._registry(tenant)
        now = self._clock()
        registry.touch((registry.cached(url) or registry.get(self._hosted_id(url) or "")
                        for url in urls), now)
        if not isinstance(context, str):
            await self._record_inline(registry, key[1], context, tenant)
        return compiled

    def context_url(self, context: Any, tenant: str = "") -> str | None:
        """The URL by which a resolved request @context can be referenced (e.g. in a Link
        header or a subscription's jsonldContext): the URL itself, or the ImplicitlyCreated
        entry made for an inline one."""
        if context is None:
            return CORE_CONTEXT_URL
        if isinstance(context, str):
            return context
        entry = self._registry(tenant, create=False).inline(context_key(context))
        return None if entry is None else entry.url

    async def _collect(self, context: Any, tenant: str, *,
                       lenient: bool = False) -> dict[str, Any]:
        """Fetch every remote @context reachable from `context` (depth-first, bounded). With
        `lenient`, unavailable ones stand in as empty @contexts instead of failing."""
        documents: dict[str, Any] = {}
        finished: set[str] = set()

        async def fetch(url: str) -> Any:
            try:
                return await self._document(url, tenant)
            except LdContextNotAvailable:
                if lenient:
                    return _EMPTY_DOCUMENT
                raise

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
            fetched = await asyncio.gather(*(fetch(u) for u in missing))
            documents.update(zip(missing, fetched, strict=True))
            for url in urls:
                if url not in finished:
                    await visit(remote_context_value(documents[url], url), (*stack, url))
                    finished.add(url)

        await visit(context, ())
        return documents

    async def _document(self, url: str, tenant: str) -> dict[str, Any]:
        """The document at `url`: from the Tenant's store, or downloaded once (single flight)."""
        registry = self._registry(tenant)
        hosted_id = self._hosted_id(url)
        if hosted_id is not None:
            entry = registry.get(hosted_id)
            if entry is None or entry.kind == "Cached":
                raise LdContextNotAvailable(f"The @context {url} is not stored by this broker")
            return entry.document
        cached = registry.cached(url)
        if cached is not None:
            return cached.document
        task = self._inflight.get((tenant, url))
        if task is None:
            task = asyncio.get_running_loop().create_task(self._download(url, tenant))
            self._inflight[(tenant, url)] = task
            task.add_done_callback(lambda _task: self._inflight.pop((tenant, url), None))
        return await asyncio.shield(task)  # a cancelled caller does not cancel the download

    async def _download(self, url: str, tenant: str) -> dict[str, Any]:
        document = await self._fetch(url)
        entry = ContextEntry(new_local_id(), url, "Cached", document, self._clock(),
                             tenant=tenant)
        self._put(self._registry(tenant), entry)
        await self._save(entry)
        return document

    async def _fetch(self, url: str) -> dict[str, Any]:
        """GET `url` within `timeout` seconds and `max_size` bytes; the parsed document."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc \
                or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
            raise BadRequestData(f"Invalid @context: {url!r} is not an http(s) URL")
        url = self._mirrored(url)
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=True, max_redirects=5,
                                             event_hooks={"request": [check_destination]})
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
        except httpx.InvalidURL as exc:
            raise BadRequestData(f"Invalid @context: {url!r} is not a valid URL") from exc
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

    # -- the @context API (§5.13) ----------------------------------------------------------

    async def add(self, document: Any, tenant: str = "") -> str:
        """Add @context (§5.13.2): store a Hosted @context; its new local identifier.

        The payload must be a JSON object with an "@context" member (else InvalidRequest) whose
        value is a valid @context (else BadRequestData). The @contexts it references are
        downloaded and stored as Cached ones where available; one that cannot be reached now
        does not fail the operation (it is fetched again when first used).
        """
        if not isinstance(document, dict) or "@context" not in document:
            raise InvalidRequest("The payload must be a JSON object with an @context member")
        context = document["@context"]
        _check_shape(context)
        context_key(context)
        documents = await self._collect(context, tenant, lenient=True)
        compile_context(context, documents=documents, max_depth=self._max_depth)
        local_id = new_local_id()
        entry = ContextEntry(local_id, self.hosted_url(local_id), "Hosted",
                             {"@context": context}, self._clock(), tenant=tenant)
        self._put(self._registry(tenant), entry)
        await self._save(entry)
        return local_id

    def hosted_url(self, local_id: str) -> str:
        """The URL at which this broker serves the stored @context `local_id`."""
        return self.base_url + CONTEXTS_PATH + local_id

    def _hosted_id(self, url: str) -> str | None:
        prefix = self.base_url + CONTEXTS_PATH
        return unquote(url[len(prefix):]) if url.startswith(prefix) else None

    def list(self, details: bool = False, kind: str | None = None,
             tenant: str = "") -> builtins.list[Any]:
        """List @contexts (§5.13.3): URLs, or metadata objects with `details`."""
        if kind is not None and kind not in KINDS:
            raise BadRequestData(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        entries = self._registry(tenant, create=False).list(kind)
        return [e.details() if details else e.url for e in entries]

    def entry(self, context_id: str, tenant: str = "") -> ContextEntry:
        """The stored entry for a local identifier (or, for Cached ones, the original URL)."""
        return self._registry(tenant, create=False).lookup(context_id)

    def get(self, context_id: str, details: bool = False, tenant: str = "") -> dict[str, Any]:
        """Serve @context (§5.13.4): the document (Hosted and ImplicitlyCreated only; a
        Cached one is served by its original URL), or its metadata with `details`."""
        entry = self.entry(context_id, tenant)
        if details:
            return entry.details()
        if entry.kind == "Cached":
            raise OperationNotSupported(
                f"@context {entry.local_id} is a Cached copy of {entry.url}; fetch it there")
        return entry.document

    async def delete(self, context_id: str, reload: bool = False, tenant: str = "") -> None:
        """Delete and Reload @context (§5.13.5): remove an entry, or re-download a Cached one
        with `reload`; compiled @contexts that may depend on it are dropped.

        Only Cached @contexts can be reloaded: `reload` on a Hosted, ImplicitlyCreated or
        unknown one is BadRequestData. The Core @context cannot be deleted; reloading it is a
        no-op, as its authoritative copy ships with the broker. A failed re-download leaves the
        entry as it was and raises LdContextNotAvailable with 504 (§6.31.3.2).
        """
        registry = self._registry(tenant, create=False)
        try:
            entry = registry.lookup(context_id)
        except ResourceNotFound:
            if reload:
                raise BadRequestData(f"Only Cached @contexts can be reloaded; no @context "
                                     f"{context_id} is stored") from None
            raise
        if entry.local_id == CORE_LOCAL_ID:
            if reload:
                return
            raise BadRequestData("The NGSI-LD Core @context cannot be deleted")
        if reload:
            if entry.kind != "Cached":
                raise BadRequestData(f"Only Cached @contexts can be reloaded; "
                                     f"{entry.local_id} is {entry.kind}")
            try:
                document = await self._fetch(entry.url)
            except LdContextNotAvailable as exc:
                raise ContextReloadFailed(exc.detail) from exc
            entry.document = document
            entry.created_at, entry.last_usage, entry.number_of_hits = self._clock(), None, 0
            await self._save(entry)
        else:
            registry.remove(entry)
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
                self._put(self._registry(entry.tenant), entry)
        self._compiled.clear()
        return len(loaded)

    # -- internals --------------------------------------------------------------------------

    def _put(self, registry: ContextRegistry, entry: ContextEntry) -> None:
        if registry.put(entry):
            self._compiled.clear()

    async def _record_inline(self, registry: ContextRegistry, key: bytes, context: Any,
                             tenant: str) -> None:
        entry = registry.inline(key)
        if entry is None:
            local_id = new_local_id()
            entry = ContextEntry(local_id, self.hosted_url(local_id), "ImplicitlyCreated",
                                 {"@context": context}, self._clock(), tenant=tenant)
            self._put(registry, entry)
            await self._save(entry)
        registry.touch([entry], self._clock())

    async def _save(self, entry: ContextEntry) -> None:
        if self._store is not None:
            await self._store.save(entry)
