"""Which attribute instances an entity change adds to the temporal history
(ETSI GS CIM 009 §4.5.6, §4.5.7, §4.18, §5.5.6).

Every change of an entity (any API) appends to its Temporal Evolution: an instance that is
new or whose value or modifiedAt changed is recorded as is; an instance that disappeared
(attribute or entity deleted) is recorded with `deletedAt` and the NGSI-LD Null as its
value (§4.5.7 allows deletedAt in the temporal representation). The Scope is recorded
like a Property whose observedAt is a copy of modifiedAt (§4.5.6).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cityos.ngsild.model.attributes import KIND_VALUE_MEMBER, NULL_MARKER
from cityos.ngsild.types import JsonObject

SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"
SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})


@dataclass(frozen=True)
class HistoryRecord:
    """One instance to append: the attribute IRI and the instance in the internal form,
    with createdAt and modifiedAt (and deletedAt for a deletion) set."""

    attribute: str
    instance: JsonObject


def null_value(kind: str) -> Any:
    """§4.6.5: the NGSI-LD Null of an attribute kind, as the value of a deleted instance."""
    return {"@none": NULL_MARKER} if kind == "LanguageProperty" else NULL_MARKER


def deletion_record(attribute: str, previous: JsonObject, at: str) -> HistoryRecord:
    kind = previous.get("type", "Property")
    instance: JsonObject = {"type": kind,
                            KIND_VALUE_MEMBER.get(kind, "value"): null_value(kind)}
    if attribute == SCOPE_IRI:
        instance["value"] = []
    if "datasetId" in previous:
        instance["datasetId"] = previous["datasetId"]
    instance.update(createdAt=at, modifiedAt=at, deletedAt=at)
    return HistoryRecord(attribute, instance)


def _content(instance: JsonObject) -> JsonObject:
    return {k: v for k, v in instance.items() if k not in SYSTEM_MEMBERS}


def _by_dataset(instances: list[JsonObject]) -> dict[str | None, JsonObject]:
    return {i.get("datasetId"): i for i in instances}


def _scope_record(entity: JsonObject) -> HistoryRecord:
    at = entity["modifiedAt"]
    return HistoryRecord(SCOPE_IRI, {"type": "Property", "value": list(entity["scope"]),
                                     "observedAt": at, "createdAt": at, "modifiedAt": at})


def _new_record(attribute: str, instance: JsonObject, at: str) -> HistoryRecord:
    record = dict(instance)
    record.setdefault("createdAt", at)
    record.setdefault("modifiedAt", at)
    return HistoryRecord(attribute, record)


def _is_new(before: JsonObject | None, instance: JsonObject) -> bool:
    return before is None or before.get("modifiedAt") != instance.get("modifiedAt") \
        or _content(before) != _content(instance)


def _changed(attribute: str, old: list[JsonObject], new: list[JsonObject],
             at: str) -> Iterator[HistoryRecord]:
    if len(new) == 1 and (not old or (len(old) == 1 and old[0].get("datasetId")
                                      == new[0].get("datasetId"))):
        # The usual attribute, one instance before and after (or new): no deletions.
        if _is_new(old[0] if old else None, new[0]):
            yield _new_record(attribute, new[0], at)
        return
    previous = _by_dataset(old)
    current = _by_dataset(new)
    for dataset_id, instance in current.items():
        if _is_new(previous.get(dataset_id), instance):
            yield _new_record(attribute, instance, at)
    for dataset_id, instance in previous.items():
        if dataset_id not in current:
            yield deletion_record(attribute, instance, at)


def history_records(before: JsonObject | None, after: JsonObject | None,
                    now: str) -> list[HistoryRecord]:
    """The instances a change from `before` to `after` (None: absent) appends to the
    history. `now` stamps deletions of a whole entity."""
    at = after["modifiedAt"] if after is not None else now
    old_attrs = before["attrs"] if before is not None else {}
    new_attrs = after["attrs"] if after is not None else {}
    records: list[HistoryRecord] = []
    for attribute in dict.fromkeys([*new_attrs, *old_attrs]):
        records.extend(_changed(attribute, old_attrs.get(attribute, []),
                                new_attrs.get(attribute, []), at))
    old_scope = before.get("scope") if before is not None else None
    new_scope = after.get("scope") if after is not None else None
    if new_scope is not None and new_scope != old_scope:
        assert after is not None
        records.append(_scope_record(after))
    elif new_scope is None and old_scope is not None:
        records.append(deletion_record(SCOPE_IRI, {"type": "Property"}, at))
    return records
