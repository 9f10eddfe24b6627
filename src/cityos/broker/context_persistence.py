"""Keeps the /jsonldContexts store across restarts: ContextEntry ↔ storage records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cityos.broker.context_store import ContextEntry
from cityos.ngsild.types import JsonObject
from cityos.storage.base import ContextRecords


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class PersistedContexts:
    """The resolver's ContextStore on top of a storage backend's ContextRecords."""

    def __init__(self, records: ContextRecords) -> None:
        self._records = records

    async def save(self, entry: ContextEntry) -> None:
        record: JsonObject = {
            "localId": entry.local_id, "url": entry.url, "kind": entry.kind,
            "document": entry.document, "createdAt": entry.created_at.isoformat(),
            "lastUsage": entry.last_usage.isoformat() if entry.last_usage else None,
            "numberOfHits": entry.number_of_hits, "extraInfo": entry.extra_info,
            "tenant": entry.tenant}
        await self._records.put_context_record(entry.local_id, entry.tenant, record)

    async def delete(self, local_id: str) -> None:
        await self._records.delete_context_record(local_id)

    async def load_all(self) -> list[ContextEntry]:
        entries = []
        for record in await self._records.context_records():
            created = _time(record["createdAt"])
            assert created is not None
            entries.append(ContextEntry(
                record["localId"], record["url"], record["kind"], record["document"], created,
                _time(record.get("lastUsage")), int(record.get("numberOfHits", 0)),
                dict(record.get("extraInfo") or {}), record.get("tenant", "")))
        return entries
