"""Shelter CSV files in three header styles, recognised by their columns:

- 自治体標準オープンデータセット, older style: NO, 名称, 名称_カナ, 住所, 緯度, 経度,
  災害種別_洪水 … (or 洪水 …), 想定収容人数;
- 自治体標準オープンデータセット, newer style: 全国地方公共団体コード, ID, 名称, 名称_カナ,
  所在地_連結表記, 緯度, 経度, 災害種別_…, 想定収容人数;
- GSI 指定緊急避難場所 / 指定避難所 CSV: 共通ID, 施設・場所名, 住所, 洪水 …, 緯度, 経度.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from cityos.apps.shelters.importers.report import ImportReport, Rejection, ShelterRecord
from cityos.apps.shelters.importers.text import decode_csv_bytes
from cityos.apps.shelters.model import (
    GSI_SOURCE,
    HAZARDS,
    ID_PREFIX,
    Shelter,
    ShelterError,
    people_count,
    validate_location,
)

KAGA_CODE = "172065"
NAME_COLUMNS = ("名称", "施設・場所名")
ADDRESS_COLUMNS = ("所在地_連結表記", "住所")
TRUE_MARKS = {"1", "○", "◯", "〇", "true", "yes", "有", "可", "該当"}
STANDARD_SOURCE = "出典：加賀市 自治体標準オープンデータセット"


def header_style(header: list[str]) -> str | None:
    names = set(header)
    if "共通ID" in names or "施設・場所名" in names:
        return "GSI"
    if "全国地方公共団体コード" in names and "ID" in names:
        return "standard (newer)"
    if "NO" in names and "名称" in names:
        return "standard (older)"
    return None


def read_shelter_csv(data: bytes, source: str, category: str | None = None) -> ImportReport:
    """Every row of a shelter CSV as a record or a rejection. `category` None: emergency
    evacuation sites when the file has hazard columns, designated shelters otherwise."""
    report = ImportReport()
    decoded = decode_csv_bytes(data)
    report.notes.append(f"{source}: encoding {decoded.encoding}")
    rows = _rows(decoded.text)
    try:
        header_line, header = next(rows)
    except StopIteration:
        report.rejections.append(Rejection(source, 1, "the file is empty"))
        return report
    header = [column.strip() for column in header]
    style = header_style(header)
    if style is None or 1 in decoded.bad_lines:
        report.rejections.append(Rejection(
            source, header_line, "header not recognised: expected the columns of the "
            "自治体標準オープンデータセット or the GSI shelter CSV "
            "(名称 or 施設・場所名, 緯度, 経度)"))
        return report
    report.notes.append(f"{source}: header style {style}")
    hazard_columns = _hazard_columns(header)
    kind = category or _category_of(header, hazard_columns)
    seen: set[str] = set()
    for line, first_line, values in _numbered(rows):
        if any(n in decoded.bad_lines for n in range(first_line, line + 1)):
            report.rejections.append(Rejection(
                source, first_line, f"not valid {decoded.encoding} (another encoding, such "
                "as Shift_JIS, in this line?)"))
            continue
        if not any(value.strip() for value in values):
            continue  # a blank line is no row
        try:
            shelter = _shelter(header, values, hazard_columns, kind, style)
        except ShelterError as error:
            report.rejections.append(Rejection(source, first_line, str(error)))
            continue
        if shelter.id in seen:
            report.rejections.append(Rejection(source, first_line,
                                               f"duplicate ID {shelter.id!r}"))
            continue
        seen.add(shelter.id)
        report.records.append(ShelterRecord(shelter, source, first_line))
    return report


def _category_of(header: list[str], hazard_columns: dict[str, str]) -> str:
    """GSI files say what they list by their 住所同一 column; otherwise hazard columns
    mean emergency evacuation sites (指定緊急避難場所 are designated per hazard)."""
    if "指定緊急避難場所との住所同一" in header:
        return "designatedShelter"
    if "指定避難所との住所同一" in header or hazard_columns:
        return "emergencyEvacuationSite"
    return "designatedShelter"


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        for values in reader:
            yield reader.line_num, values
    except csv.Error as error:
        raise ShelterError(f"line {reader.line_num}: {error}") from None


def _numbered(rows: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, int, list[str]]]:
    """(last physical line, first physical line, values) of each record."""
    previous = 1
    for line, values in rows:
        yield line, previous + 1, values
        previous = line


def _hazard_columns(header: list[str]) -> dict[str, str]:
    columns = {}
    for column in header:
        label = column.removeprefix("災害種別_")
        if label in HAZARDS:
            columns[column] = HAZARDS[label]
    return columns


def _first(row: dict[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        value = (row.get(name) or "").strip()
        if value:
            return value
    return ""


def _shelter(header: list[str], values: list[str], hazard_columns: dict[str, str],
             category: str, style: str) -> Shelter:
    if len(values) != len(header):
        raise ShelterError(f"the row has {len(values)} fields, the header {len(header)}")
    row = dict(zip(header, values, strict=True))
    name = _first(row, NAME_COLUMNS)
    if not name:
        raise ShelterError("名称 (name) is missing")
    lon, lat = validate_location(row.get("経度", "").strip(), row.get("緯度", "").strip())
    capacity_text = (row.get("想定収容人数") or "").strip()
    capacity = people_count(capacity_text, "想定収容人数 (capacity)") if capacity_text else None
    return Shelter(
        id=ID_PREFIX + _shelter_id(row), name=name, lon=lon, lat=lat, category=category,
        kana=(row.get("名称_カナ") or "").strip() or None,
        street_address=_first(row, ADDRESS_COLUMNS) or None, capacity=capacity,
        hazards=tuple(dict.fromkeys(code for column, code in hazard_columns.items()
                                    if (row.get(column) or "").strip().lower() in TRUE_MARKS)),
        gsi_common_id=(row.get("共通ID") or "").strip() or None,
        source=GSI_SOURCE if style == "GSI" else STANDARD_SOURCE)


def _shelter_id(row: dict[str, str]) -> str:
    common = (row.get("共通ID") or "").strip()
    if common:
        return common
    local = (row.get("ID") or row.get("NO") or "").strip()
    if not local:
        raise ShelterError("ID / NO is missing")
    code = (row.get("全国地方公共団体コード") or KAGA_CODE).strip()
    return f"{code}-{local}"
