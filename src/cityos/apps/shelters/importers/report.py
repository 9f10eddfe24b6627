"""What an import found: good records and rejected rows, each with its line number."""

from __future__ import annotations

from dataclasses import dataclass, field

from cityos.apps.shelters.model import Shelter


@dataclass(frozen=True)
class Rejection:
    """line: the physical line of a CSV row (1 = the header) or the feature number (1-based)
    of a GeoJSON file."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class ShelterRecord:
    """One good row: the shelter it describes and where it came from."""

    shelter: Shelter
    source: str
    line: int


@dataclass
class ImportReport:
    records: list[ShelterRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: ImportReport) -> None:
        self.records.extend(other.records)
        self.rejections.extend(other.rejections)
        self.notes.extend(other.notes)
