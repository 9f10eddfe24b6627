"""Transient entities and attributes (ETSI GS CIM 009 V1.9.1 §4.22).

An entity, an attribute instance or a sub-attribute may carry `expiresAt` (a DateTime,
§4.8): it is served until that instant and is gone afterwards, whichever operation stored
it. `expiresAt` is a system member like createdAt: rendered only with sysAttrs (§6.3.11).

Reads hide what has expired at once (`without_expired`); a sweeper later removes it from
storage for good, through the ordinary write path so events, subscriptions and temporal
history see the deletion.
"""

from __future__ import annotations

from datetime import datetime

from cityos.ngsild.model.names import parse_datetime
from cityos.ngsild.types import JsonObject

EXPIRES_AT = "expiresAt"


def _moment(value: str) -> datetime:
    # Stored values were validated on input; compare as instants, never as strings
    # ("…00Z" sorts after "…00.5Z").
    return parse_datetime(value, EXPIRES_AT)


def _instance_expiries(instance: JsonObject) -> list[datetime]:
    found = [_moment(instance[EXPIRES_AT])] if EXPIRES_AT in instance else []
    for sub in instance.get("attrs", {}).values():
        found += _instance_expiries(sub)
    return found


def _may_expire(instance: JsonObject) -> bool:
    if EXPIRES_AT in instance:
        return True
    subs = instance.get("attrs")
    if not subs:
        return False
    return any(_may_expire(sub) for sub in subs.values())


def next_expiry(entity: JsonObject | None) -> datetime | None:
    """The earliest instant at which something in `entity` expires, if anything does."""
    if entity is None:
        return None
    # Most entities carry no expiresAt at all: find that out without building lists.
    if EXPIRES_AT not in entity and not any(
            _may_expire(instance) for instances in entity["attrs"].values()
            for instance in instances):
        return None
    found = [_moment(entity[EXPIRES_AT])] if EXPIRES_AT in entity else []
    for instances in entity["attrs"].values():
        for instance in instances:
            found += _instance_expiries(instance)
    return min(found, default=None)


def _live_instance(instance: JsonObject, now: datetime) -> JsonObject | None:
    if EXPIRES_AT in instance and _moment(instance[EXPIRES_AT]) <= now:
        return None
    subs = instance.get("attrs")
    if not subs:
        return instance
    live = {name: kept for name, sub in subs.items()
            if (kept := _live_instance(sub, now)) is not None}
    if live == subs:
        return instance
    trimmed = {**instance, "attrs": live}
    if not live:
        del trimmed["attrs"]
    return trimmed


def without_expired(entity: JsonObject, now: datetime) -> JsonObject | None:
    """`entity` as it stands at `now`: None if the entity itself has expired, else without
    its expired instances and sub-attributes (the same object when nothing expired)."""
    if EXPIRES_AT in entity and _moment(entity[EXPIRES_AT]) <= now:
        return None
    expiry = next_expiry(entity)
    if expiry is None or expiry > now:
        return entity
    attrs: JsonObject = {}
    for name, instances in entity["attrs"].items():
        live = [kept for instance in instances
                if (kept := _live_instance(instance, now)) is not None]
        if live:
            attrs[name] = live
    return {**entity, "attrs": attrs}
