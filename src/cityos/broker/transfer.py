"""Moving a whole tenant between backends: NGSI-LD JSON lines (`cityos export` / `import`).

Each line is one entity in the normalized representation (ETSI GS CIM 009 §4.5.2), its
names compacted with the core @context only (so names outside it stay full IRIs), with
sysAttrs: every datasetId, sub-attribute, scope and createdAt/modifiedAt is kept, and
importing a file reproduces the stored entities exactly.

Importing writes entities straight into the store: it replaces entities with the same id,
keeps the exported timestamps, and publishes no change events (no notifications, no
temporal history).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson

from cityos.ngsild.context import core_context
from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.changes import stamp_new_entity
from cityos.ngsild.model.names import now_timestamp
from cityos.ngsild.model.render import RenderOptions, render_entity
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery, EntityStore, MutationResult

_CORE = core_context()
_OPTIONS = RenderOptions(form="normalized", sys_attrs=True)
_TIMESTAMPS = ("createdAt", "modifiedAt")
EXPORT_PAGE = 1000
IMPORT_BATCH = 500


def entity_to_line(entity: JsonObject) -> bytes:
    """One stored entity as a JSON line (with its newline)."""
    return orjson.dumps(render_entity(entity, _CORE, _OPTIONS)) + b"\n"


def entity_from_line(line: bytes | str) -> JsonObject:
    """The stored (internal) form of an exported line; BadRequestData when it is no
    valid entity."""
    body = orjson.loads(line)
    # Lines written by hand may lack timestamps: those get the time of the import.
    entity = stamp_new_entity(parse_entity(body, _CORE), now_timestamp())
    _restore_timestamps(entity, body)
    return entity


def _restore_timestamps(target: JsonObject, body: Any) -> None:
    """Copy createdAt/modifiedAt from the exported body onto the parsed entity or
    instance, down through attributes and sub-attributes (parsing drops them)."""
    if not isinstance(body, dict):
        return
    for member in _TIMESTAMPS:
        if member in body:
            target[member] = body[member]
    attrs = target.get("attrs", {})
    for name, raw in body.items():
        iri = _CORE.expand_term(name)
        if iri not in attrs:
            continue
        parsed = attrs[iri]
        if isinstance(parsed, list):  # entity attribute: instances in body order
            raws = raw if isinstance(raw, list) else [raw]
            for instance, raw_instance in zip(parsed, raws, strict=False):
                _restore_timestamps(instance, raw_instance)
        else:  # sub-attribute: a single instance
            _restore_timestamps(parsed, raw)


async def export_tenant(store: EntityStore, tenant: str,
                        write: Callable[[bytes], object],
                        advance: Callable[[int], object] = lambda n: None) -> int:
    """Write every entity of the tenant, in insertion order; returns how many."""
    written = 0
    while True:
        page = await store.query_entities(tenant, EntityQuery(limit=EXPORT_PAGE,
                                                              offset=written))
        for entity in page.entities:
            write(entity_to_line(entity))
        written += len(page.entities)
        advance(len(page.entities))
        if len(page.entities) < EXPORT_PAGE:
            return written


async def count_entities(store: EntityStore, tenant: str) -> int:
    page = await store.query_entities(tenant, EntityQuery(limit=0, count=True))
    return page.total or 0


async def import_lines(store: EntityStore, tenant: str, lines: Iterable[bytes],
                       advance: Callable[[int], object] = lambda n: None
                       ) -> AsyncIterator[MutationResult]:
    """Store the entity of each non-empty line (replacing one with the same id), in
    batches; yields each entity's result. A line that is not valid JSON stops the import
    with orjson's error; one that is no valid entity is reported as a failed result."""
    batch: list[tuple[str, JsonObject]] = []
    consumed = 0
    for number, line in enumerate(lines, start=1):
        consumed += len(line)
        if not line.strip():
            continue
        try:
            entity = entity_from_line(line)
        except NgsiLdError as error:
            yield MutationResult(f"line {number}", None, None, error)
            continue
        batch.append((entity["id"], entity))
        if len(batch) >= IMPORT_BATCH:
            for result in await _store(store, tenant, batch):
                yield result
            advance(consumed)
            batch, consumed = [], 0
    if batch:
        for result in await _store(store, tenant, batch):
            yield result
    advance(consumed)


async def _store(store: EntityStore, tenant: str,
                 batch: list[tuple[str, JsonObject]]) -> list[MutationResult]:
    return await store.apply(tenant, [(entity_id, _replace_with(entity))
                                      for entity_id, entity in batch])


def _replace_with(entity: JsonObject) -> Callable[[JsonObject | None], JsonObject]:
    return lambda old: entity
