"""The EvacuationShelter model: pure rules, no I/O.

A shelter is kept in the broker as an NGSI-LD entity of type `EvacuationShelter` (terms of
the core @context's default vocabulary, see docs/shelters.md); `Shelter` is the plain view
of one that the feed, the pages and the exports work with. Crowding is derived from the
evacuee count and the capacity with configurable thresholds, unless staff set it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

SHELTER_TYPE = "EvacuationShelter"
ID_PREFIX = "urn:ngsi-ld:EvacuationShelter:"
GSI_SOURCE = "出典：国土地理院 指定緊急避難場所・指定避難所データ"
CATEGORIES = ("designatedShelter", "emergencyEvacuationSite", "temporaryShelter")
STATUSES = ("open", "closed")
CROWDING_LEVELS = ("vacant", "slightlyCrowded", "crowded", "full")
SHELTER_KINDS = ("communityHall", "ryokan", "hotel", "school", "temple", "gymnasium",
                 "publicFacility", "other")
# Japanese labels of the GSI / 自治体標準オープンデータセット hazard columns → model codes.
HAZARDS = {"洪水": "flood", "崖崩れ、土石流及び地滑り": "landslide", "高潮": "stormSurge",
           "地震": "earthquake", "津波": "tsunami", "大規模な火事": "largeFire",
           "内水氾濫": "inlandFlooding", "火山現象": "volcano"}
MAX_PEOPLE = 100_000
MAX_NOTE = 500
MAX_ASSIGNED = 20
USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")  # as operators' usernames


class ShelterError(ValueError):
    """Input a shelter cannot take; the message says what is wrong, in plain words."""


@dataclass(frozen=True)
class CrowdingThresholds:
    """Percent of capacity from which a shelter counts as slightly crowded, crowded and
    full (VACAN Maps' やや混雑 / 混雑 / 満)."""

    slightly_crowded: float = 30.0
    crowded: float = 60.0
    full: float = 80.0

    @classmethod
    def parse(cls, text: str) -> CrowdingThresholds:
        """"30/60/80" → thresholds; they must rise strictly within 0–100."""
        try:
            low, mid, high = (float(part) for part in text.split("/"))
        except ValueError:
            raise ShelterError(f"crowding thresholds {text!r}: expected three percentages "
                               "like 30/60/80") from None
        if not 0 < low < mid < high <= 100:
            raise ShelterError(f"crowding thresholds {text!r} must rise within 0–100")
        return cls(low, mid, high)


def derive_crowding(occupancy: int | None, capacity: int | None,
                    thresholds: CrowdingThresholds = CrowdingThresholds()) -> str | None:
    """The crowding level from count and capacity; None when the capacity is unknown (then
    only staff can say how crowded it is)."""
    if capacity is None or capacity <= 0 or occupancy is None:
        return None
    percent = 100.0 * occupancy / capacity
    if percent >= thresholds.full:
        return "full"
    if percent >= thresholds.crowded:
        return "crowded"
    if percent >= thresholds.slightly_crowded:
        return "slightlyCrowded"
    return "vacant"


@dataclass(frozen=True)
class Shelter:
    """One shelter as the app sees it. `capacity` is None when unknown (never invented)."""

    id: str
    name: str
    lon: float
    lat: float
    category: str = "designatedShelter"
    kana: str | None = None
    street_address: str | None = None
    shelter_kind: str | None = None
    capacity: int | None = None
    occupancy: int | None = None
    status: str = "closed"
    crowding_level: str | None = None
    crowding_source: str | None = None
    hazards: tuple[str, ...] = ()
    accessibility: str | None = None
    pets_allowed: bool | None = None
    gsi_common_id: str | None = None
    emergency_site_id: str | None = None
    source: str | None = None
    notes: str | None = None
    responsible_staff: tuple[str, ...] = ()
    updated_by: str | None = None
    modified_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def shown_crowding(self) -> str | None:
        """What the public sees: nothing while closed."""
        return self.crowding_level if self.status == "open" else None


def validate_location(lon: Any, lat: Any) -> tuple[float, float]:
    """WGS84 lon/lat as numbers within range (GeoJSON order)."""
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise ShelterError(f"coordinates {lat!r}, {lon!r} are not numbers") from None
    if not (-180 <= x <= 180 and -90 <= y <= 90) or (x == 0 and y == 0):
        raise ShelterError(f"coordinates lat {lat!r}, lon {lon!r} are out of range")
    return x, y


def people_count(value: Any, what: str) -> int:
    """A non-negative whole number of people (evacuees, capacity)."""
    if isinstance(value, bool):
        raise ShelterError(f"{what} must be a whole number")
    if isinstance(value, str):
        value = value.strip().replace(",", "")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ShelterError(f"{what} must be a whole number, not {value!r}") from None
    if isinstance(value, float) and value != number:
        raise ShelterError(f"{what} must be a whole number, not {value!r}")
    if not 0 <= number <= MAX_PEOPLE:
        raise ShelterError(f"{what} must be between 0 and {MAX_PEOPLE}")
    return number


@dataclass(frozen=True)
class StaffUpdate:
    """What a staff member changes in one request; None leaves a field as it is.
    crowding: a level to set by hand, or "auto" to derive it again."""

    status: str | None = None
    occupancy: int | None = None
    capacity: int | None = None
    crowding: str | None = None
    notes: str | None = None
    pets_allowed: bool | None = None
    accessibility: str | None = None


def parse_staff_update(body: Any) -> StaffUpdate:
    if not isinstance(body, dict):
        raise ShelterError("the request body must be a JSON object")
    unknown = set(body) - {"status", "occupancy", "capacity", "crowding", "notes",
                           "petsAllowed", "accessibility"}
    if unknown:
        raise ShelterError("unknown fields: " + ", ".join(sorted(unknown)))
    status = body.get("status")
    if status is not None and status not in STATUSES:
        raise ShelterError("status must be open or closed")
    crowding = body.get("crowding")
    if crowding is not None and crowding not in (*CROWDING_LEVELS, "auto"):
        raise ShelterError("crowding must be auto, " + ", ".join(CROWDING_LEVELS))
    pets = body.get("petsAllowed")
    if pets is not None and not isinstance(pets, bool):
        raise ShelterError("petsAllowed must be true or false")
    return StaffUpdate(
        status=status,
        occupancy=None if body.get("occupancy") is None
        else people_count(body["occupancy"], "evacuee count"),
        capacity=None if body.get("capacity") is None
        else people_count(body["capacity"], "capacity"),
        crowding=crowding, notes=_text(body.get("notes"), "notes"), pets_allowed=pets,
        accessibility=_text(body.get("accessibility"), "accessibility"))


def parse_assignment(body: Any) -> tuple[str, ...]:
    """An administrator's staff assignment `{"responsibleStaff": [USERNAME…]}` → the
    operators' subjects (`operator:USERNAME`), without repeats; an empty list leaves the
    shelter to administrators only. `operator:USERNAME` is accepted too."""
    if not isinstance(body, dict) or set(body) != {"responsibleStaff"}:
        raise ShelterError('the body must be {"responsibleStaff": [usernames]}')
    names = body["responsibleStaff"]
    if not isinstance(names, list) or len(names) > MAX_ASSIGNED:
        raise ShelterError(f"responsibleStaff must be a list of at most {MAX_ASSIGNED} "
                           "usernames")
    subjects: list[str] = []
    for name in names:
        username = name.strip().removeprefix("operator:") if isinstance(name, str) else ""
        if not USERNAME.fullmatch(username):
            raise ShelterError(f"{name!r} is not an operator's username")
        if f"operator:{username}" not in subjects:
            subjects.append(f"operator:{username}")
    return tuple(subjects)


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NOTE:
        raise ShelterError(f"{what} must be text of at most {MAX_NOTE} characters")
    return value.strip()


def apply_update(shelter: Shelter, update: StaffUpdate, thresholds: CrowdingThresholds,
                 subject: str) -> Shelter:
    """The shelter after a staff update, with the crowding level derived again unless
    staff set it (a staff level stays until they choose "auto")."""
    changed = replace(
        shelter,
        status=update.status or shelter.status,
        occupancy=shelter.occupancy if update.occupancy is None else update.occupancy,
        capacity=shelter.capacity if update.capacity is None else update.capacity,
        notes=shelter.notes if update.notes is None else update.notes,
        pets_allowed=shelter.pets_allowed if update.pets_allowed is None
        else update.pets_allowed,
        accessibility=shelter.accessibility if update.accessibility is None
        else update.accessibility,
        updated_by=subject)
    if update.crowding in CROWDING_LEVELS:
        return replace(changed, crowding_level=update.crowding, crowding_source="staff")
    if update.crowding == "auto" or shelter.crowding_source != "staff":
        level = derive_crowding(changed.occupancy, changed.capacity, thresholds)
        return replace(changed, crowding_level=level,
                       crowding_source="derived" if level else None)
    return changed
