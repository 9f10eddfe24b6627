"""ContextResolver against a real local HTTP server (ETSI GS CIM 009 §5.5.7, §5.13)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cityos.broker.context_resolver import ContextEntry, ContextReloadFailed, ContextResolver
from cityos.ngsild.context import CORE_CONTEXT_URL, DEFAULT_CONTEXT_VOCAB
from cityos.ngsild.errors import (
    BadRequestData,
    InvalidRequest,
    LdContextNotAvailable,
    OperationNotSupported,
    ResourceNotFound,
)

BASE = "http://broker.test"
EX = "https://example.org/"


@dataclass
class Route:
    body: bytes
    status: int = 200
    delay: float = 0.0
    content_length: bool = True


@dataclass
class ContextServer:
    """A threaded HTTP server on 127.0.0.1 serving @context documents; counts requests."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, document: Any, **options: Any) -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.routes[path] = Route(body, **options)
        return self.url(path)


@pytest.fixture
def server() -> Iterator[ContextServer]:
    state = ContextServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits[self.path] += 1
            route = state.routes.get(self.path, Route(b"{}", status=404))
            time.sleep(route.delay)
            self.send_response(route.status)
            self.send_header("Content-Type", "application/ld+json")
            if route.content_length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(route.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
async def resolver() -> AsyncIterator[ContextResolver]:
    instance = ContextResolver(BASE, timeout=2.0)
    yield instance
    await instance.aclose()


VEHICLE = {"@context": {"Vehicle": "https://example.org/Vehicle",
                        "brandName": {"@id": "https://example.org/brandName", "@type": "@vocab"}}}


# -- resolving -----------------------------------------------------------------------------------

async def test_core_only_and_core_urls_are_never_fetched(resolver: ContextResolver) -> None:
    assert (await resolver.resolve(None)).expand_term("location") == \
        "https://uri.etsi.org/ngsi-ld/location"
    old_core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
    ctx = await resolver.resolve([old_core, CORE_CONTEXT_URL])
    assert ctx.expand_term("observedAt") == "https://uri.etsi.org/ngsi-ld/observedAt"


async def test_fetch_and_cache(server: ContextServer, resolver: ContextResolver) -> None:
    url = server.serve("/vehicle.jsonld", VEHICLE)
    first = await resolver.resolve(url)
    assert first.expand_term("Vehicle") == EX + "Vehicle"
    assert first.coercion("brandName") == "@vocab"
    assert await resolver.resolve(url) is first
    mixed = await resolver.resolve([url, {"speed": "https://example.org/speed"}])
    assert mixed.expand_term("speed") == EX + "speed"
    assert mixed.expand_term("Vehicle") == EX + "Vehicle"
    assert server.hits["/vehicle.jsonld"] == 1
    [cached] = resolver.list(details=True, kind="Cached")[1:]
    assert cached["URL"] == url and cached["numberOfHits"] == 3
    assert cached["localId"].startswith("urn:ngsi-ld:jsonldContext:")
    assert {"createdAt", "lastUsage", "kind"} <= cached.keys()


async def test_concurrent_requests_fetch_once(server: ContextServer,
                                              resolver: ContextResolver) -> None:
    url = server.serve("/slow.jsonld", VEHICLE, delay=0.3)
    results = await asyncio.gather(*(resolver.resolve(url) for _ in range(5)),
                                   resolver.resolve([url, {"x": "https://example.org/x"}]))
    assert all(r.expand_term("Vehicle") == EX + "Vehicle" for r in results)
    assert server.hits["/slow.jsonld"] == 1


async def test_timeout(server: ContextServer) -> None:
    url = server.serve("/stuck.jsonld", VEHICLE, delay=1.5)
    resolver = ContextResolver(BASE, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(LdContextNotAvailable, match="timed out") as caught:
        await resolver.resolve(url)
    assert time.monotonic() - started < 1.2
    assert url in caught.value.detail and caught.value.status == 504
    await resolver.aclose()


@pytest.mark.parametrize("content_length", [True, False])
async def test_oversize(server: ContextServer, content_length: bool) -> None:
    big = {"@context": {f"term{i}": f"https://example.org/term{i}" for i in range(200)}}
    url = server.serve("/big.jsonld", big, content_length=content_length)
    resolver = ContextResolver(BASE, max_size=1024)
    with pytest.raises(LdContextNotAvailable, match="size limit of 1024 bytes") as caught:
        await resolver.resolve(url)
    assert url in caught.value.detail
    await resolver.aclose()


async def test_fetch_failures(server: ContextServer, resolver: ContextResolver) -> None:
    with pytest.raises(LdContextNotAvailable, match="HTTP 404"):
        await resolver.resolve(server.url("/missing.jsonld"))
    with pytest.raises(BadRequestData, match="not valid JSON"):
        await resolver.resolve(server.serve("/broken.jsonld", b"{not json"))
    with pytest.raises(BadRequestData, match="@context member"):
        await resolver.resolve(server.serve("/bare.jsonld", {"Vehicle": "https://e.org/V"}))
    with pytest.raises(BadRequestData, match="http"):
        await resolver.resolve("ftp://example.org/ctx.jsonld")
    with pytest.raises(BadRequestData, match="must be a URL string"):
        await resolver.resolve(42)
    with pytest.raises(LdContextNotAvailable, match="failed"):
        await resolver.resolve("http://127.0.0.1:9/refused.jsonld")  # nothing listens there


async def test_nested_remote_contexts(server: ContextServer, resolver: ContextResolver) -> None:
    leaf = server.serve("/leaf.jsonld", {"@context": {"Leaf": "https://example.org/Leaf"}})
    base = server.serve("/base.jsonld", {"@context": {"ex": EX}})
    mid = server.serve("/mid.jsonld", {"@context": [leaf, {"@import": base, "Mid": "ex:Mid"}]})
    top = server.serve("/top.jsonld", {"@context": [mid, CORE_CONTEXT_URL, leaf]})
    ctx = await resolver.resolve(top)
    assert ctx.expand_term("Leaf") == EX + "Leaf"
    assert ctx.expand_term("Mid") == EX + "Mid"
    assert ctx.expand_term("ex:other") == EX + "other"
    assert server.hits["/leaf.jsonld"] == 1


async def test_cycles_and_depth(server: ContextServer, resolver: ContextResolver) -> None:
    one, two = server.url("/one.jsonld"), server.url("/two.jsonld")
    server.serve("/one.jsonld", {"@context": [two, {"a": "https://example.org/a"}]})
    server.serve("/two.jsonld", {"@context": {"@import": one}})
    with pytest.raises(BadRequestData, match="cyclic"):
        await resolver.resolve(one)
    for i in range(5):
        server.serve(f"/chain{i}.jsonld", {"@context": server.url(f"/chain{i + 1}.jsonld")})
    server.serve("/chain5.jsonld", {"@context": {}})
    shallow = ContextResolver(BASE, max_depth=3)
    with pytest.raises(BadRequestData, match="deeper than 3"):
        await shallow.resolve(server.url("/chain0.jsonld"))
    assert "x" not in await shallow.resolve(server.url("/chain3.jsonld"))
    await shallow.aclose()


async def test_compiled_cache_is_bounded(server: ContextServer) -> None:
    resolver = ContextResolver(BASE, cache_size=1)
    a, b = {"a": "https://example.org/a"}, {"b": "https://example.org/b"}
    first = await resolver.resolve(a)
    assert await resolver.resolve(a) is first
    await resolver.resolve(b)
    again = await resolver.resolve(a)
    assert again is not first and again.expand_term("a") == EX + "a"
    await resolver.aclose()


# -- the @context store (§5.13) -----------------------------------------------------------------

async def test_hosted_contexts(server: ContextServer, resolver: ContextResolver) -> None:
    local_id = await resolver.add(VEHICLE)
    assert local_id.startswith("urn:ngsi-ld:jsonldContext:")
    url = f"{BASE}/ngsi-ld/v1/jsonldContexts/{local_id}"
    assert resolver.list(kind="Hosted") == [url]
    assert resolver.get(local_id) == VEHICLE
    details = resolver.get(local_id, details=True)
    assert details["kind"] == "Hosted" and details["URL"] == url
    ctx = await resolver.resolve(url)  # served locally, no HTTP
    assert ctx.expand_term("brandName") == EX + "brandName"
    assert resolver.get(local_id, details=True)["numberOfHits"] == 1
    with pytest.raises(BadRequestData, match="reloaded"):
        await resolver.delete(local_id, reload=True)
    await resolver.delete(local_id)
    assert resolver.list(kind="Hosted") == []
    with pytest.raises(ResourceNotFound):
        resolver.get(local_id)
    with pytest.raises(LdContextNotAvailable):
        await resolver.resolve(url)


async def test_add_rejects_invalid_documents(resolver: ContextResolver) -> None:
    for payload in ({"Vehicle": "https://example.org/V"}, []):  # no @context member
        with pytest.raises(InvalidRequest):
            await resolver.add(payload)
    invalid: list[Any] = [{"@context": 5}, {"@context": True}, {"@context": {"a": 3}},
                          {"@context": None}, {"@context": "not a url"},
                          # checked before anything is fetched (§5.13.2.4, §5.5.4)
                          {"@context": ["http://127.0.0.1:9/never-fetched.jsonld", 7]}]
    for document in invalid:
        with pytest.raises(BadRequestData):
            await resolver.add(document)
    assert resolver.list(kind="Hosted") == []


async def test_cached_contexts(server: ContextServer, resolver: ContextResolver) -> None:
    url = server.serve("/cached.jsonld", VEHICLE)
    await resolver.resolve(url)
    [core_url, cached_url] = resolver.list(kind="Cached")
    assert (core_url, cached_url) == (CORE_CONTEXT_URL, url)
    entry = resolver.get(url, details=True)  # Cached entries are also addressable by URL
    with pytest.raises(OperationNotSupported):
        resolver.get(entry["localId"])
    await resolver.delete(entry["localId"], reload=True)
    assert server.hits["/cached.jsonld"] == 2
    assert resolver.get(url, details=True)["numberOfHits"] == 0
    await resolver.delete(url)
    assert resolver.list(kind="Cached") == [CORE_CONTEXT_URL]
    await resolver.resolve(url)
    assert server.hits["/cached.jsonld"] == 3
    server.routes["/cached.jsonld"].status = 500
    with pytest.raises(LdContextNotAvailable):
        await resolver.delete(url, reload=True)
    with pytest.raises(BadRequestData, match="Core"):
        await resolver.delete(CORE_CONTEXT_URL)


async def test_implicitly_created_contexts(resolver: ContextResolver) -> None:
    inline = [{"speed": "https://example.org/speed"}, CORE_CONTEXT_URL]
    ctx = await resolver.resolve(inline)
    assert ctx.expand_term("speed") == EX + "speed"
    await resolver.resolve([{"speed": "https://example.org/speed"}, CORE_CONTEXT_URL])
    [details] = resolver.list(details=True, kind="ImplicitlyCreated")
    assert details["numberOfHits"] == 2
    assert resolver.context_url(inline) == details["URL"]
    assert resolver.get(details["localId"]) == {"@context": inline}
    assert resolver.context_url("https://example.org/ctx") == "https://example.org/ctx"
    assert resolver.context_url(None) == CORE_CONTEXT_URL
    assert resolver.context_url({"other": "https://example.org/o"}) is None
    with pytest.raises(BadRequestData, match="kind"):
        resolver.list(kind="Remote")
    assert len(resolver.list()) == 2  # the Core @context and the implicit one


class MemoryStore:
    def __init__(self) -> None:
        self.entries: dict[str, ContextEntry] = {}

    async def save(self, entry: ContextEntry) -> None:
        self.entries[entry.local_id] = entry

    async def delete(self, local_id: str) -> None:
        self.entries.pop(local_id, None)

    async def load_all(self) -> list[ContextEntry]:
        return list(self.entries.values())


async def test_persistence_hook(server: ContextServer) -> None:
    store = MemoryStore()
    first = ContextResolver(BASE, store=store)
    local_id = await first.add({"@context": {"Hosted": "https://example.org/Hosted"}})
    await first.resolve(server.serve("/p.jsonld", VEHICLE))
    assert {e.kind for e in store.entries.values()} == {"Hosted", "Cached"}
    await first.aclose()

    second = ContextResolver(BASE, store=store)
    assert await second.load() == 2
    ctx = await second.resolve([server.url("/p.jsonld"), second.hosted_url(local_id)])
    assert ctx.expand_term("Hosted") == EX + "Hosted"
    assert ctx.expand_term("Vehicle") == EX + "Vehicle"
    assert server.hits["/p.jsonld"] == 1
    await second.delete(local_id)
    assert local_id not in store.entries
    assert ctx.expand_term("nothing") == DEFAULT_CONTEXT_VOCAB + "nothing"
    await second.aclose()


async def test_cached_and_implicit_entries_are_bounded() -> None:
    resolver = ContextResolver(BASE, max_entries=2)
    contexts = [{f"t{i}": f"https://example.org/t{i}"} for i in range(3)]
    for context in contexts:
        await resolver.resolve(context)
    await resolver.resolve(contexts[1])
    await resolver.resolve({"t3": "https://example.org/t3"})
    kept = [resolver.get(url.rsplit("/", 1)[1]) for url in resolver.list(kind="ImplicitlyCreated")]
    assert kept == [{"@context": contexts[1]}, {"@context": {"t3": "https://example.org/t3"}}]
    await resolver.aclose()


async def test_failed_reload_raises_504_and_keeps_the_entry(server: ContextServer,
                                                            resolver: ContextResolver) -> None:
    url = server.serve("/reload.jsonld", VEHICLE)
    await resolver.resolve(url)
    server.routes["/reload.jsonld"].status = 404
    with pytest.raises(ContextReloadFailed) as failure:
        await resolver.delete(url, reload=True)
    assert failure.value.status == 504 and failure.value.error_type == "LdContextNotAvailable"
    assert resolver.get(url, details=True)["numberOfHits"] == 1  # untouched
    with pytest.raises(BadRequestData, match="Cached"):  # nothing to reload
        await resolver.delete("https://example.org/never-used", reload=True)
    with pytest.raises(ResourceNotFound):
        await resolver.delete("https://example.org/never-used")


async def test_core_context_under_any_version_url(resolver: ContextResolver) -> None:
    old_core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
    assert resolver.get(old_core, details=True)["URL"] == CORE_CONTEXT_URL
    with pytest.raises(BadRequestData, match="Core"):
        await resolver.delete(old_core)
    await resolver.delete(old_core, reload=True)  # its copy ships with the broker: a no-op
    assert resolver.list() == [CORE_CONTEXT_URL]


async def test_store_is_per_tenant(server: ContextServer, resolver: ContextResolver) -> None:
    local_id = await resolver.add(VEHICLE, tenant="a")
    hosted = resolver.hosted_url(local_id)
    cached = server.serve("/tenant.jsonld", {"@context": {"x": "https://example.org/x"}})
    await resolver.resolve([hosted, cached], tenant="a")
    assert len(resolver.list(tenant="a")) == 4  # Core, Hosted, Cached, ImplicitlyCreated
    assert resolver.list(tenant="b") == resolver.list() == [CORE_CONTEXT_URL]
    with pytest.raises(ResourceNotFound):
        resolver.get(local_id, tenant="b")
    with pytest.raises(ResourceNotFound):
        await resolver.delete(local_id, tenant="b")
    with pytest.raises(LdContextNotAvailable):
        await resolver.resolve(hosted, tenant="b")
    assert (await resolver.resolve(hosted, tenant="a")).expand_term("Vehicle") == EX + "Vehicle"
    assert resolver.get(local_id, details=True, tenant="a")["numberOfHits"] == 2


async def test_add_fetches_referenced_contexts_where_available(
        server: ContextServer, resolver: ContextResolver) -> None:
    url = server.serve("/ref.jsonld", VEHICLE)
    await resolver.add({"@context": [url, "http://127.0.0.1:9/refused.jsonld"]})
    assert resolver.get(url, details=True)["kind"] == "Cached"
    server.serve("/bad.jsonld", b"{not json")
    with pytest.raises(BadRequestData):  # available but invalid (§5.5.6)
        await resolver.add({"@context": server.url("/bad.jsonld")})


def test_relative_references_are_resolved_against_the_request_url(
        resolver: ContextResolver) -> None:
    base = f"{BASE}/ngsi-ld/v1/entities/"
    hosted = f"{BASE}/ngsi-ld/v1/jsonldContexts/x"
    assert resolver.absolutize("/ngsi-ld/v1/jsonldContexts/x", base) == hosted
    assert resolver.absolutize(["../jsonldContexts/x", {"a": "b"}, EX], base) == \
        [hosted, {"a": "b"}, EX]
    assert resolver.absolutize("relative", None) == "relative"
