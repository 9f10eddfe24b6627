"""Population from e-Stat census CSV: the 500 m (or 1 km) mesh tables, keyed by the JIS
X 0410 mesh code, or town-level (町丁字) tables located on the Geolonia town points (or on
lat/lon columns). Age bands come from the 0～14 / 15～64 / 65歳以上 / 75歳以上 columns;
a table with only totals spreads them with the given shares (and says so)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from cityos.apps.twin.model import AGE_BANDS, Population

TOTAL = re.compile(r"^(人口（?総数）?|総数|population|total)")
BAND_PATTERNS = {"0-14": re.compile(r"^(0～14歳|０～１４歳|age_0_14)"),
                 "15-64": re.compile(r"^(15～64歳|１５～６４歳|age_15_64)"),
                 "65+": re.compile(r"^(65歳以上|６５歳以上|age_65_plus)"),
                 "75+": re.compile(r"^(75歳以上|７５歳以上|age_75_plus)")}
KEY = re.compile(r"^(KEY_CODE|mesh|メッシュコード|mesh_code)$", re.IGNORECASE)
TOWN = re.compile(r"^(town|町丁字名|町丁字|name|地域名)$", re.IGNORECASE)
LON = re.compile(r"^(lon|lng|longitude|経度)$", re.IGNORECASE)
LAT = re.compile(r"^(lat|latitude|緯度)$", re.IGNORECASE)


class PopulationImportError(ValueError):
    """The table gives no usable population; the message says why."""


def mesh_centre(code: str) -> tuple[float, float]:
    """Centre (lon, lat) of a JIS X 0410 mesh: 4 digits (1st, 80 km), 6 (2nd, 10 km),
    8 (3rd, 1 km) or 9 (half mesh, 500 m)."""
    if not code.isdigit() or len(code) not in (4, 6, 8, 9):
        raise ValueError(f"not a mesh code: {code!r}")
    lat, lon = int(code[:2]) / 1.5, int(code[2:4]) + 100.0
    h, w = 2 / 3, 1.0
    if len(code) >= 6:
        lat, lon = lat + int(code[4]) * h / 8, lon + int(code[5]) * w / 8
        h, w = h / 8, w / 8
    if len(code) >= 8:
        lat, lon = lat + int(code[6]) * h / 10, lon + int(code[7]) * w / 10
        h, w = h / 10, w / 10
    if len(code) == 9:
        quarter = int(code[8])
        if quarter not in (1, 2, 3, 4):
            raise ValueError(f"not a mesh code: {code!r}")
        lat += ((quarter - 1) // 2) * h / 2
        lon += ((quarter - 1) % 2) * w / 2
        h, w = h / 2, w / 2
    return lon + w / 2, lat + h / 2


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PopulationImportError("the CSV is neither UTF-8 nor Shift_JIS")


def _column(headers: list[list[str]], pattern: re.Pattern[str]) -> int | None:
    for row in headers:
        for i, name in enumerate(row):
            if pattern.search(name.strip()):
                return i
    return None


def _number(cell: str) -> float:
    cell = cell.strip().replace(",", "")
    if cell in ("", "-", "*", "X", "…"):
        return 0.0  # e-Stat marks hidden / zero cells with these
    return float(cell)


def import_population(path: Path, towns: dict[str, tuple[float, float]] | None = None,
                      shares: dict[str, float] | None = None) -> Population:
    rows = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
    if len(rows) < 2:
        raise PopulationImportError(f"{path.name}: no data rows")
    headers = rows[:2]
    key, town = _column(headers, KEY), _column(headers, TOWN)
    total = _column(headers, TOTAL)
    lon_col, lat_col = _column(headers, LON), _column(headers, LAT)
    bands = {b: _column(headers, p) for b, p in BAND_PATTERNS.items()}
    if key is None and town is None:
        raise PopulationImportError(f"{path.name}: needs a KEY_CODE (mesh) or a town column")
    if total is None and bands["15-64"] is None:
        raise PopulationImportError(f"{path.name}: no population column (人口（総数） or "
                                    "age-band columns)")
    lon: list[float] = []
    lat: list[float] = []
    counts: list[list[float]] = []
    labels: list[str] = []
    notes: list[str] = []
    skipped: list[str] = []
    has_bands = all(bands[b] is not None for b in ("0-14", "15-64", "65+"))
    default_shares = shares or {"0-14": 0.11, "15-64": 0.53, "65-74": 0.16, "75+": 0.20}
    for row in rows[1:]:
        ident = row[key if key is not None else town].strip() if row else ""  # type: ignore[index]
        try:
            if key is not None:
                if not ident.isdigit():
                    continue  # the second header row of e-Stat tables
                x, y = mesh_centre(ident)
            elif lon_col is not None and lat_col is not None:
                x, y = float(row[lon_col]), float(row[lat_col])
            else:
                if towns is None or ident not in towns:
                    skipped.append(ident)
                    continue
                x, y = towns[ident]
            counts.append(_bands(row, total, bands, has_bands, default_shares))
        except (ValueError, IndexError):
            skipped.append(ident)
            continue
        lon.append(x)
        lat.append(y)
        labels.append(ident)
    if not counts:
        raise PopulationImportError(f"{path.name}: no row could be located or read")
    if skipped:
        notes.append(f"{path.name}: {len(skipped)} rows skipped (unknown place or unreadable "
                     f"numbers), e.g. {', '.join(skipped[:3])}")
    if not has_bands:
        notes.append(f"{path.name}: no age-band columns; totals split with assumed shares")
    return Population(lon=np.array(lon), lat=np.array(lat), counts=np.array(counts),
                      labels=labels, source=f"e-Stat table ({path.name})", notes=notes)


def _bands(row: list[str], total: int | None, bands: dict[str, int | None], has_bands: bool,
           shares: dict[str, float]) -> list[float]:
    if has_bands:
        young, adult, old = (_number(row[bands[b]]) for b in ("0-14", "15-64", "65+"))  # type: ignore[index]
        very_old = _number(row[bands["75+"]]) if bands["75+"] is not None else old * 0.55
        return [young, adult, max(old - very_old, 0.0), very_old]
    people = _number(row[total])  # type: ignore[index]
    return [people * shares[b] for b in AGE_BANDS]
