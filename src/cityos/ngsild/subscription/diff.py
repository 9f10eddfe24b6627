"""What one committed change did to an entity, in notificationTrigger terms (ETSI GS CIM 009
V1.8.1 §5.2.12 notificationTrigger, §5.11).

Attribute changes are judged per instance (datasetId): an instance that appears is an
Attribute creation, one that disappears an Attribute deletion, one that differs an update.
Creating an entity creates each of its Attributes; deleting it deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cityos.ngsild.types import JsonObject

EntityChange = Literal["created", "updated", "deleted"]


@dataclass(frozen=True)
class ChangeSummary:
    entity: EntityChange | None  # None: nothing changed
    created: frozenset[str]  # attribute IRIs with an instance created
    updated: frozenset[str]
    deleted: frozenset[str]

    @property
    def attributes(self) -> frozenset[str]:
        return self.created | self.updated | self.deleted


def _instances(entity: JsonObject | None, attribute: str) -> dict[str, JsonObject]:
    if entity is None:
        return {}
    return {i.get("datasetId", "@none"): i for i in entity["attrs"].get(attribute, [])}


def summarize(before: JsonObject | None, after: JsonObject | None) -> ChangeSummary:
    """The change from `before` to `after` (None: absent)."""
    old_attrs = before["attrs"] if before else {}
    new_attrs = after["attrs"] if after else {}
    created: set[str] = set()
    updated: set[str] = set()
    deleted: set[str] = set()
    for name in old_attrs.keys() | new_attrs.keys():
        if old_attrs.get(name) == new_attrs.get(name):
            continue  # untouched (the usual case for most Attributes of a change)
        old, new = _instances(before, name), _instances(after, name)
        if new.keys() - old.keys():
            created.add(name)
        if old.keys() - new.keys():
            deleted.add(name)
        if any(old[k] != new[k] for k in old.keys() & new.keys()):
            updated.add(name)
    entity: EntityChange | None
    if before is None:
        entity = "created" if after is not None else None
    elif after is None:
        entity = "deleted"
    else:
        entity = "updated" if before != after else None
    return ChangeSummary(entity, frozenset(created), frozenset(updated), frozenset(deleted))


_ATTRIBUTE_TRIGGERS = (("attributeCreated", "created"), ("attributeUpdated", "updated"),
                       ("attributeDeleted", "deleted"))


def fired(summary: ChangeSummary, triggers: frozenset[str],
          watched: frozenset[str] | None) -> frozenset[str]:
    """The notificationTriggers of a Subscription this change fires. With
    watchedAttributes, only changes touching a watched Attribute count, whatever the
    trigger (§5.2.12 watchedAttributes)."""
    if summary.entity is None or (watched is not None and not summary.attributes & watched):
        return frozenset()
    hits: set[str] = set()
    for trigger, kind in _ATTRIBUTE_TRIGGERS:
        changed: frozenset[str] = getattr(summary, kind)
        if trigger in triggers and changed and (watched is None or changed & watched):
            hits.add(trigger)
    entity_trigger = "entity" + summary.entity.capitalize()
    if entity_trigger in triggers:
        hits.add(entity_trigger)
    return frozenset(hits)
