"""The public feed, served from memory: every shelter's public view as one GeoJSON
document with an ETag, rebuilt (lazily, once per change) from bus events, so a traffic
spike in a disaster never reaches the database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from cityos.apps.shelters.entities import is_shelter, readable_shelter
from cityos.apps.shelters.exports import feature, geojson_bytes
from cityos.apps.shelters.live import LiveHub
from cityos.apps.shelters.model import Shelter
from cityos.apps.shelters.service import TENANT
from cityos.broker.events import EntityEvent


class ShelterFeed:
    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        self._shelters: dict[str, Shelter] = {}
        self._body: bytes | None = None
        self._etag = ""

    def load(self, shelters: Sequence[Shelter]) -> None:
        self._shelters = {s.id: s for s in shelters}
        self._body = None

    @property
    def shelters(self) -> list[Shelter]:
        return list(self._shelters.values())

    def shelter(self, shelter_id: str) -> Shelter | None:
        return self._shelters.get(shelter_id)

    def body(self) -> tuple[bytes, str]:
        """The GeoJSON document and its ETag (strong: a hash of the bytes)."""
        if self._body is None:
            self._body = geojson_bytes(self._shelters.values())
            self._etag = '"' + hashlib.sha256(self._body).hexdigest()[:32] + '"'
        return self._body, self._etag

    def reconcile(self, stored: Sequence[Shelter]) -> int:
        """Bring the feed in line with the database (writes by other processes: the import
        command, other server processes); returns how many shelters changed."""
        changed = [s for s in stored if self._shelters.get(s.id) != s]
        gone = set(self._shelters) - {s.id for s in stored}
        for shelter in changed:
            self._shelters[shelter.id] = shelter
            self.hub.publish("shelter", json.dumps(
                feature(shelter), ensure_ascii=False, separators=(",", ":")).encode())
        for shelter_id in gone:
            del self._shelters[shelter_id]
            self.hub.publish("removed", json.dumps({"id": shelter_id}).encode())
        if changed or gone:
            self._body = None
        return len(changed) + len(gone)

    async def on_events(self, events: Sequence[EntityEvent]) -> None:
        """Bus handler: keep the feed and the open pages up to date."""
        for event in events:
            if event.tenant != TENANT:
                continue
            shelter = readable_shelter(event.after)
            if shelter is not None:
                self._shelters[shelter.id] = shelter
                self._body = None
                self.hub.publish("shelter", json.dumps(
                    feature(shelter), ensure_ascii=False, separators=(",", ":")).encode())
            elif is_shelter(event.before) or is_shelter(event.after):
                # deleted, or changed into something the map cannot show
                gone = (event.after or event.before or {})["id"]
                self._shelters.pop(gone, None)
                self._body = None
                self.hub.publish("removed", json.dumps({"id": gone}).encode())
