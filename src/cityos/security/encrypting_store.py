"""An entity store that keeps personal attributes sealed at rest (cityos.security.
field_crypto), around either backend.

Writes: each mutator sees the entity opened and its result is sealed before the backend
stores it, so the entity row, the change journal and the temporal history the backend's
write observers record all hold ciphertext. Reads: entities come back opened. Queries that
would have to look inside a sealed value — q, orderBy or a geo-query on a personal
attribute — are refused with 400 BadRequestData, never answered wrongly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.query.ast import q_attributes
from cityos.ngsild.types import JsonObject
from cityos.security.field_crypto import FieldCipher, UnknownDataKey
from cityos.storage.base import (
    AttributeSummary,
    EntityQuery,
    MutationResult,
    Mutator,
    QueryPage,
    TypeSummary,
)


class EncryptingStore:
    def __init__(self, inner: Any, cipher: FieldCipher) -> None:
        self.inner = inner
        self.cipher = cipher

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # context records, sibling-store helpers

    async def open(self) -> None:
        await self.inner.open()
        await self.cipher.keys.load()

    async def close(self) -> None:
        await self.inner.close()

    async def tenant_exists(self, tenant: str) -> bool:
        return bool(await self.inner.tenant_exists(tenant))

    async def tenants(self) -> list[str]:
        return list(await self.inner.tenants())

    async def _opened(self, docs: list[JsonObject | None]) -> list[JsonObject | None]:
        try:
            return [self.cipher.open_entity(doc) for doc in docs]
        except UnknownDataKey:  # sealed by another process with a key made since
            await self.cipher.keys.load()
            return [self.cipher.open_entity(doc) for doc in docs]

    async def get_entity(self, tenant: str, entity_id: str) -> JsonObject | None:
        return (await self._opened([await self.inner.get_entity(tenant, entity_id)]))[0]

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryPage:
        self._refuse_sealed_lookups(query)
        page: QueryPage = await self.inner.query_entities(tenant, query)
        opened = await self._opened(list(page.entities))
        return replace(page, entities=[doc for doc in opened if doc is not None])

    async def apply(self, tenant: str,
                    mutations: Sequence[tuple[str, Mutator]]) -> list[MutationResult]:
        # The plaintext each sealing mutator saw and made, by the id of the sealed object
        # the backend holds: the results are opened from it without decrypting again.
        plain: dict[int, tuple[JsonObject, JsonObject]] = {}  # the sealed object is kept
        sealing = [(entity_id, self._sealing(mutator, plain)) for entity_id, mutator in mutations]
        results: list[MutationResult] = await self.inner.apply(tenant, sealing)
        opened = []
        for result in results:
            before, after = (_known(plain, doc) for doc in (result.before, result.after))
            if (before is None and result.before is not None) or \
                    (after is None and result.after is not None):
                before, after = await self._opened([result.before, result.after])
            opened.append(replace(result, before=before, after=after))
        return opened

    def _sealing(self, mutator: Mutator,
                 seen: dict[int, tuple[JsonObject, JsonObject]] | None = None) -> Mutator:
        cipher = self.cipher

        def sealed(stored: JsonObject | None) -> JsonObject | None:
            plain = cipher.open_entity(stored)
            made = mutator(plain)
            result = cipher.seal_entity(made, stored, plain)
            if seen is not None:
                if stored is not None and plain is not None:
                    seen[id(stored)] = (stored, plain)
                if result is not None and made is not None:
                    seen[id(result)] = (result, made)
            return result

        return sealed

    async def expiring_entities(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        return list(await self.inner.expiring_entities(now, limit))

    async def type_summaries(self, tenant: str) -> list[TypeSummary]:
        return list(await self.inner.type_summaries(tenant))

    async def attribute_summaries(self, tenant: str) -> list[AttributeSummary]:
        return list(await self.inner.attribute_summaries(tenant))

    def _refuse_sealed_lookups(self, query: EntityQuery) -> None:
        looked_at: set[str] = set()
        if query.q is not None:
            looked_at |= q_attributes(query.q)
        if query.order_by is not None:
            looked_at |= {key.path.attr for key in query.order_by.keys if key.path}
        if query.geo is not None:
            looked_at.add(getattr(query.geo, "geoproperty_iri", ""))
        personal = self.cipher.personal
        sealed = sorted(name for name in looked_at if name in personal.everywhere
                        or any(name == attr for _, attr in personal.by_type))
        if sealed:
            raise BadRequestData(
                f"attribute(s) {', '.join(sealed)} hold personal data stored encrypted; "
                "q, orderBy and geo-queries cannot look into them")


def _known(seen: dict[int, tuple[JsonObject, JsonObject]],
           doc: JsonObject | None) -> JsonObject | None:
    """The plaintext of `doc` if a sealing mutator saw exactly this object."""
    if doc is None:
        return None
    entry = seen.get(id(doc))
    return entry[1] if entry is not None and entry[0] is doc else None
