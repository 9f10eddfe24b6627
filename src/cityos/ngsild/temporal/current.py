"""What a write through the temporal API means for the current entity (ETSI GS CIM 009
§5.6.11–§5.6.16). Pure: each function returns a mutator of the current entity, run by the
store in the transaction that changes the history.

The rule (docs/api.md): the current value of an instance series (attribute + datasetId)
is its most recently observed instance, unless the current entity holds an instance of
that series observed later (written through the core API, which the history records too).

- §5.6.11 / §5.6.12 (create, update, append): the latest instance sent for each series
  becomes current unless the current one was observed later; a new entity is created.
- §5.6.13 (delete attribute history): the series leave the current entity too.
- §5.6.14 / §5.6.15 (modify, delete one instance): when the current entity shows that
  instance, or the change makes another one the series' latest, the current value follows
  the series' latest instance (the series leaves the entity when none is left).
- §5.6.16 (delete the temporal entity): the current entity is deleted.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from cityos.ngsild.model import changes
from cityos.ngsild.model.attributes import instance_is_null
from cityos.ngsild.temporal.body import SCOPE_HISTORY
from cityos.ngsild.temporal.times import parse_micros
from cityos.ngsild.types import JsonObject

CurrentMutator = Callable[[JsonObject | None], JsonObject | None]
# Members of a stored history instance that are not part of the attribute's value.
_HISTORY_MEMBERS = ("instanceId", "createdAt", "modifiedAt", "deletedAt")


def observed(instance: JsonObject | None) -> int:
    """observedAt in epoch µs; an instance without one sorts before every observation."""
    text = (instance or {}).get("observedAt")
    return parse_micros(text) if isinstance(text, str) else -(2**62)


def latest_instances(instances: list[JsonObject]) -> dict[str | None, JsonObject]:
    """The most recently observed instance of each datasetId (the last sent on ties)."""
    latest: dict[str | None, JsonObject] = {}
    for instance in instances:
        key = instance.get("datasetId")
        kept = latest.get(key)
        if kept is None or observed(instance) >= observed(kept):
            latest[key] = instance
    return latest


def _current(entity: JsonObject | None, attribute: str,
             dataset_id: str | None) -> JsonObject | None:
    return next((i for i in (entity or {}).get("attrs", {}).get(attribute, [])
                 if i.get("datasetId") == dataset_id), None)


def entity_mutator(entity: JsonObject, now: str) -> CurrentMutator:
    """§5.6.11 / §5.6.12: `entity` in the internal form, attributes as instance lists."""
    def mutate(old: JsonObject | None) -> JsonObject | None:
        fragment: JsonObject = {}
        for iri, instances in entity["attrs"].items():
            for dataset_id, instance in latest_instances(instances).items():
                if observed(_current(old, iri, dataset_id)) > observed(instance):
                    continue
                fragment.setdefault(iri, []).append(copy.deepcopy(instance))
        if old is None:
            fresh = {k: v for k, v in entity.items() if k not in ("attrs", SCOPE_HISTORY)}
            found = {iri: [i for i in items if not instance_is_null(i)]
                     for iri, items in fragment.items()}
            fresh["attrs"] = {iri: items for iri, items in found.items() if items}
            return changes.stamp_new_entity(fresh, now)
        new, _ = changes.append_attributes(old, fragment, now, overwrite=True)
        new["type"] = list(dict.fromkeys([*old["type"], *entity["type"]]))
        if "scope" in entity:
            new["scope"] = entity["scope"]
        return new
    return mutate


def removal_mutator(attribute: str, dataset_id: str | None, delete_all: bool,
                    now: str) -> CurrentMutator:
    """§5.6.13: the deleted series leave the current entity (nothing if it has none)."""
    def mutate(old: JsonObject | None) -> JsonObject | None:
        if old is None or not old["attrs"].get(attribute):
            return old
        if not delete_all and _current(old, attribute, dataset_id) is None:
            return old
        return changes.delete_attribute(old, attribute, dataset_id, delete_all, now)
    return mutate


def series_mutator(attribute: str, touched: JsonObject, latest: JsonObject | None,
                   now: str) -> CurrentMutator:
    """§5.6.14 / §5.6.15: `touched` is the instance as it was before the change, `latest`
    the series' most recently observed instance after it (None when none is left)."""
    dataset_id = touched.get("datasetId")

    def mutate(old: JsonObject | None) -> JsonObject | None:
        current = _current(old, attribute, dataset_id)
        if old is None or current is None:
            return old  # the entity does not show this series: nothing follows
        showed_touched = observed(current) == observed(touched)
        if not showed_touched and (latest is None or observed(latest) < observed(current)):
            return old  # the current value is a later observation than the history's
        if latest is None or "deletedAt" in latest:
            return changes.delete_attribute(old, attribute, dataset_id, False, now)
        value = {k: v for k, v in latest.items() if k not in _HISTORY_MEMBERS}
        if value == {k: v for k, v in current.items() if k not in _HISTORY_MEMBERS}:
            return old
        new, _ = changes.append_attributes(old, {attribute: [value]}, now, overwrite=True)
        return new
    return mutate
