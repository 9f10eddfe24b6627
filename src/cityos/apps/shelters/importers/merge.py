"""One shelter per facility: the GSI lists a school as a designated shelter (指定避難所) and
its playground as an emergency evacuation site (指定緊急避難場所) under two 共通IDs, flagged
住所同一 (same address). Such pairs become one shelter under the designated shelter's id,
keeping the emergency site's 共通ID and hazard designations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from cityos.apps.shelters.model import Shelter


def _address_key(shelter: Shelter) -> str | None:
    if not shelter.street_address:
        return None
    return "".join(shelter.street_address.split()).replace("－", "-").replace("ー", "-")


def merge_shelters(shelters: Iterable[Shelter], existing: Iterable[Shelter] = ()) -> list[Shelter]:
    """Records of one import (and shelters already stored, which give ids to match against)
    → the shelters to write, one per facility, in input order."""
    by_id: dict[str, Shelter] = {}
    designated_at: dict[str, str] = {}
    for shelter in existing:
        key = _address_key(shelter)
        if shelter.category == "designatedShelter" and key:
            designated_at.setdefault(key, shelter.id)
    incoming = list(shelters)
    for shelter in incoming:
        key = _address_key(shelter)
        if shelter.category == "designatedShelter" and key:
            designated_at[key] = shelter.id
    stored = {shelter.id: shelter for shelter in existing}
    for shelter in incoming:
        key = _address_key(shelter)
        target = designated_at.get(key) if key and shelter.category == \
            "emergencyEvacuationSite" else None
        if target is None or target == shelter.id:
            by_id[shelter.id] = _combine(by_id.get(shelter.id), shelter)
            continue
        base = by_id.get(target) or stored.get(target)
        by_id[target] = _with_emergency_site(base, shelter, target)
    return list(by_id.values())


def _combine(old: Shelter | None, new: Shelter) -> Shelter:
    if old is None:
        return new
    return replace(new, hazards=tuple(dict.fromkeys((*old.hazards, *new.hazards))),
                   emergency_site_id=new.emergency_site_id or old.emergency_site_id)


def _with_emergency_site(base: Shelter | None, site: Shelter, target: str) -> Shelter:
    if base is None:  # the designated shelter comes later in the same import
        base = replace(site, id=target, category="designatedShelter")
    return replace(base, hazards=tuple(dict.fromkeys((*base.hazards, *site.hazards))),
                   emergency_site_id=site.gsi_common_id or site.id.rsplit(":", 1)[-1])
