"""Reading a shelter file of any supported kind, chosen by its content."""

from __future__ import annotations

from cityos.apps.shelters.importers.csv_rows import read_shelter_csv
from cityos.apps.shelters.importers.gsi_geojson import read_gsi_geojson
from cityos.apps.shelters.importers.report import ImportReport


def read_shelter_file(data: bytes, source: str, category: str | None = None) -> ImportReport:
    """GeoJSON when the content starts with "{" (after a BOM and blanks), CSV otherwise."""
    head = data[:64].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"{"):
        return read_gsi_geojson(data, source)
    return read_shelter_csv(data, source, category)
